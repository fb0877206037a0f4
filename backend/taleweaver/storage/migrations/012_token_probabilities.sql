-- A story generation's token probabilities (issue 24, docs/STORAGE.md), beside the immutable text
-- they describe: the generation's text as its passage keeps it. One row per run of adjacent
-- tokens, start and stop in that text; top_json: [[length, logprob, [[alternative, logprob],
-- ...]], ...] per token, the top 5 alternatives at most. Freed with the text.
CREATE TABLE token_probabilities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text_id INTEGER NOT NULL REFERENCES texts (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    start INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    top_json TEXT NOT NULL
);

CREATE INDEX token_probabilities_by_text ON token_probabilities (text_id, start);

-- Why a generation that asked for them has none ("Probabilities are not available from ...").
ALTER TABLE generations ADD COLUMN probabilities_note TEXT;
