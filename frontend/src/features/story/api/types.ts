// What the Story page edits, in the names of the generated wire types (src/types/api.ts).
import type { ChatCompletionRequest, Story } from '../../../types/api';

/** What the user edits; every one of them is autosaved. `settings` (the generation controls) is
 * kept as its JSON text, so that a change is seen like any other field's. */
export type StoryFields = Pick<Story, 'title' | 'premise' | 'genre' | 'length' | 'content' | 'memory' | 'authors_note'> & {
  settings: string;
};

/** A chat completion that runs as a job of the named story (Taleweaver's extension field). */
export type StoryGenerationRequest = ChatCompletionRequest & {
  taleweaver: {
    story_id: number;
    action?: 'continue' | 'regenerate' | 'insert' | 'rewrite';
    /** insert: where to write; rewrite: the range and how (offsets in code points). */
    position?: number;
    start?: number;
    stop?: number;
    instruction?: string;
    /** With `continue`: the text is cut at code point `at`, `text` put in, and the model continues from there. */
    reroll?: { at: number; text: string };
  };
};
