-- "Rewrite" (issue 23): the proposals for a selection of a story's text are versions of that
-- range, a story_passages row with start and stop (code points) whose version 0 is the text as it
-- was; stories.proposal_id names it until the writer accepts one of them or discards them. Like
-- stories.passage_id, the reference is checked at commit (a story's rows go by cascade).
ALTER TABLE stories ADD COLUMN proposal_id INTEGER REFERENCES story_passages (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX stories_by_proposal ON stories (proposal_id);

-- Who wrote what (issue 23): the ranges (code points) of a text that the model wrote, beside the
-- immutable text they describe, so that every revision and undo step that shows the text shows
-- its marks, and they go with it. Characters the writer typed are the writer's: no row.
CREATE TABLE text_marks (
    text_id INTEGER NOT NULL REFERENCES texts (id) ON DELETE CASCADE,
    start INTEGER NOT NULL,
    stop INTEGER NOT NULL,
    author TEXT NOT NULL,
    PRIMARY KEY (text_id, start)
);
