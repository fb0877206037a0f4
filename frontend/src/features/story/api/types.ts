// What the Story page edits, in the names of the generated wire types (src/types/api.ts).
import type { ChatCompletionRequest, Story } from '../../../types/api';

/** What the user edits; every one of them is autosaved. */
export type StoryFields = Pick<Story, 'title' | 'premise' | 'genre' | 'length' | 'content'>;

/** A chat completion that runs as a job of the named story (Taleweaver's extension field). */
export type StoryGenerationRequest = ChatCompletionRequest & { taleweaver: { story_id: number } };
