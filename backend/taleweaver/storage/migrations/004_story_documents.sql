-- Stories become documents (premise, generation settings, a revision counter), with bounded
-- revisions and server-side generation jobs.
ALTER TABLE stories RENAME COLUMN prompt TO premise;
ALTER TABLE stories ADD COLUMN genre TEXT NOT NULL DEFAULT '';
ALTER TABLE stories ADD COLUMN length TEXT NOT NULL DEFAULT '';
ALTER TABLE stories ADD COLUMN settings_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE stories ADD COLUMN word_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stories ADD COLUMN revision INTEGER NOT NULL DEFAULT 1;

CREATE INDEX stories_by_user_updated ON stories (user_id, updated_at);

-- Each revision of a story as it was saved (the current one included); pruned on write to the
-- newest 50 plus the last revision of each older clock hour, up to 200 such hours.
CREATE TABLE story_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    revision INTEGER NOT NULL,
    title TEXT NOT NULL,
    premise TEXT NOT NULL DEFAULT '',
    content TEXT NOT NULL DEFAULT '',
    word_count INTEGER NOT NULL DEFAULT 0,
    reason TEXT NOT NULL CHECK (reason IN ('edit', 'generation', 'restore')),
    created_at TEXT NOT NULL,
    UNIQUE (story_id, revision)
);

INSERT INTO story_revisions (story_id, revision, title, premise, content, word_count, reason, created_at)
SELECT id, 1, title, premise, content,
       CASE WHEN trim(content) = '' THEN 0
            ELSE length(trim(content)) - length(replace(trim(content), ' ', '')) + 1 END,
       'edit', updated_at
FROM stories;

UPDATE stories SET word_count = (
    SELECT word_count FROM story_revisions WHERE story_revisions.story_id = stories.id
);

-- Generation jobs: the text so far is persisted while the job runs; `owner` names the process
-- running it and `heartbeat_at` (epoch seconds) says it is alive.
CREATE TABLE generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    backend_type TEXT,
    model TEXT,
    params_json TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'running'
        CHECK (status IN ('running', 'finished', 'stopped', 'failed', 'interrupted')),
    text TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL,
    started_at REAL NOT NULL,
    first_token_at REAL,
    heartbeat_at REAL NOT NULL,
    finished_at REAL,
    finish_reason TEXT,
    usage_json TEXT,
    error_json TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0 CHECK (stop_requested IN (0, 1))
);

-- At most one running generation per story.
CREATE UNIQUE INDEX generations_one_running_per_story ON generations (story_id) WHERE status = 'running';
CREATE INDEX generations_by_story ON generations (story_id, id);
CREATE INDEX generations_running ON generations (status) WHERE status = 'running';
