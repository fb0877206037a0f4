-- The writing studio: memory and author's note per story, the last generated passage with its
-- alternatives, an undo history, and what each generation was asked to do and with how much
-- of the model's context.
ALTER TABLE stories ADD COLUMN memory TEXT NOT NULL DEFAULT '';
ALTER TABLE stories ADD COLUMN authors_note TEXT NOT NULL DEFAULT '';
-- {"start": offset of the last generated passage in content, "versions": [text, ...], "chosen": i}
ALTER TABLE stories ADD COLUMN alternatives_json TEXT;
ALTER TABLE stories ADD COLUMN history_position INTEGER NOT NULL DEFAULT 1;
-- 1 while the title is the one derived from the premise (it follows the premise, kept unique).
ALTER TABLE stories ADD COLUMN auto_title INTEGER NOT NULL DEFAULT 0 CHECK (auto_title IN (0, 1));

-- The story's undo history: one state (text and alternatives) per step; history_position in
-- stories names the current one, the ones after it are redo steps.
CREATE TABLE story_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    story_id INTEGER NOT NULL REFERENCES stories (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    content TEXT NOT NULL DEFAULT '',
    alternatives_json TEXT,
    label TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (story_id, position)
);

INSERT INTO story_history (story_id, position, content, alternatives_json, label, created_at)
SELECT id, 1, content, NULL, 'opened', updated_at FROM stories;

-- action: continue | regenerate | null (a chat completion that brought its own messages);
-- prefix_length: where the generated text starts in the story; counted_tokens: the content
-- pieces streamed (the token count when the backend reports no usage); context_json: the budget.
ALTER TABLE generations ADD COLUMN action TEXT;
ALTER TABLE generations ADD COLUMN prefix_length INTEGER;
ALTER TABLE generations ADD COLUMN counted_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE generations ADD COLUMN context_json TEXT;
