// The story feature's public face: the app imports it from here only.
export { StoryPage } from './components/StoryPage';
