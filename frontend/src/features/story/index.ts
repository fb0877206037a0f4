// The story feature's public face: the app imports it from here only.
export { StoryLibrary } from './components/StoryLibrary';
export { StoryPage } from './components/StoryPage';
export { forgetLastStory, lastStoryOf, type StoryOwner, useLastStory } from './lib/last-story';
