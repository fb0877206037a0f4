-- "Rewrite" (issue 23): the proposals for a selection of a story's text are versions of that
-- range, a story_passages row with start and stop (code points) whose version 0 is the text as it
-- was; stories.proposal_id names it until the writer accepts one of them or discards them. Like
-- stories.passage_id, the reference is checked at commit (a story's rows go by cascade).
ALTER TABLE stories ADD COLUMN proposal_id INTEGER REFERENCES story_passages (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX stories_by_proposal ON stories (proposal_id);
