-- Backend types are named by the descriptors in the code (backends.py), not by a CHECK here:
-- adding a backend must not need a migration. SQLite cannot drop a CHECK, so the table is
-- rebuilt with its rows, ids, the partial unique index and last_test_json kept.
CREATE TABLE settings_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    backend_type TEXT NOT NULL CHECK (length(backend_type) BETWEEN 1 AND 64),
    config_json TEXT NOT NULL DEFAULT '{}',
    is_active INTEGER NOT NULL DEFAULT 0 CHECK (is_active IN (0, 1)),
    last_test_json TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    UNIQUE (user_id, backend_type)
);

INSERT INTO settings_new (id, user_id, backend_type, config_json, is_active, last_test_json, created_at, updated_at)
SELECT id, user_id, backend_type, config_json, is_active, last_test_json, created_at, updated_at FROM settings;

DROP TABLE settings;

ALTER TABLE settings_new RENAME TO settings;

-- At most one active backend per user.
CREATE UNIQUE INDEX settings_one_active_per_user ON settings (user_id) WHERE is_active = 1;

-- Bumped by a model-list refresh, so every worker process drops its cached list at once.
ALTER TABLE users ADD COLUMN models_version INTEGER NOT NULL DEFAULT 0;
