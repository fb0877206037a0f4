-- Each user's named sampler presets (temperature, top_p, ... context_length as JSON), which the
-- Story page applies to a story's settings; a name once per user.
CREATE TABLE sampler_presets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    settings_json TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (user_id, name)
);
