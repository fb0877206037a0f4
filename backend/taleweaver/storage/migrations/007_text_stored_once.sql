-- Text kept once per story (docs/STORAGE.md): chunks stored once, texts as lists of chunks;
-- revisions, undo steps (a tree) and versions of a range of the text refer to texts by id.
-- The data moves in 008; the columns that held copies are dropped there. References between
-- a story's own rows are checked at commit: deleting a story deletes them all by cascade, in an
-- order PostgreSQL does not promise.
CREATE TABLE text_chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    body TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    UNIQUE (story_id, digest)
);

-- chunk_ids: the ids of the text's chunks in order, comma-separated; length in characters;
-- bytes: what the row of references costs (its chunks are counted with text_chunks).
CREATE TABLE texts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    digest TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    length INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    UNIQUE (story_id, digest)
);

-- A range of the story's text [start, stop) with its versions (stop NULL: to the end of the
-- text). Immutable: choosing or adding a version makes a new passage that reuses the texts.
CREATE TABLE story_passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    stop INTEGER,
    chosen INTEGER NOT NULL,
    digest TEXT NOT NULL,
    UNIQUE (story_id, digest)
);

CREATE TABLE passage_versions (
    passage_id INTEGER NOT NULL REFERENCES story_passages (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    text_id INTEGER NOT NULL REFERENCES texts (id) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (passage_id, position)
);

CREATE INDEX passage_versions_by_text ON passage_versions (text_id);

-- The undo history as a tree: each change is a child of the step it was made on.
-- added_bytes: the bytes of its text and versions beyond its parent step's, for the per-story bound.
CREATE TABLE history_nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    parent_id INTEGER REFERENCES history_nodes (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    text_id INTEGER NOT NULL REFERENCES texts (id) DEFERRABLE INITIALLY DEFERRED,
    passage_id INTEGER REFERENCES story_passages (id) DEFERRABLE INITIALLY DEFERRED,
    label TEXT NOT NULL,
    added_bytes INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE INDEX history_nodes_by_story ON history_nodes (story_id, id);
CREATE INDEX history_nodes_by_parent ON history_nodes (parent_id);
-- Every reference has an index on its side, so that checking it (a text or a step deleted, a
-- reference checked at commit) looks up rows instead of reading the whole table.
CREATE INDEX history_nodes_by_text ON history_nodes (text_id);
CREATE INDEX history_nodes_by_passage ON history_nodes (passage_id);

ALTER TABLE story_revisions ADD COLUMN text_id INTEGER REFERENCES texts (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX story_revisions_by_text ON story_revisions (text_id);

-- An import in progress: its stories are written in short transactions with import_id set
-- (hidden from the library), then shown at once by clearing it.
CREATE TABLE imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    started_at REAL NOT NULL
);

ALTER TABLE stories ADD COLUMN passage_id INTEGER REFERENCES story_passages (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE stories ADD COLUMN history_node_id INTEGER REFERENCES history_nodes (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE stories ADD COLUMN import_id INTEGER REFERENCES imports (id) ON DELETE CASCADE;
-- Every byte the story keeps (docs/STORAGE.md), summed for the user's quota; -1: not measured
-- yet (measured when the user's use is next asked for).
ALTER TABLE stories ADD COLUMN stored_bytes BIGINT NOT NULL DEFAULT -1;
CREATE INDEX stories_by_import ON stories (import_id) WHERE import_id IS NOT NULL;
CREATE INDEX stories_by_passage ON stories (passage_id);
CREATE INDEX stories_by_history_node ON stories (history_node_id);
-- An ended generation's bytes, measured once (its text no longer changes).
ALTER TABLE generations ADD COLUMN stored_bytes BIGINT;
