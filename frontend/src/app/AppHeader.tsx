import { Link, NavLink, useLocation } from 'react-router-dom';
import { UserMenu } from '../features/auth';
import { forgetLastStory, type StoryOwner, useLastStory } from '../features/story';

/** The app's navigation: the story last open, a new story, the library, settings (and the user, in multi-user mode). */
export function AppHeader({ multiUser, owner }: { multiUser: boolean; owner: StoryOwner | null }) {
  const { pathname } = useLocation();
  const last = useLastStory(owner);
  const onStory = pathname === '/' || pathname.startsWith('/story/');
  return (
    <header className="app-header">
      <span className="brand">Taleweaver</span>
      <nav aria-label="Main">
        <Link to={last === null ? '/' : `/story/${last}`} className={onStory ? 'active' : undefined} aria-current={onStory ? 'page' : undefined} data-testid="nav-story">
          Story
        </Link>
        <NavLink to="/library" data-testid="nav-library">
          Library
        </NavLink>
        <NavLink to="/settings" data-testid="nav-settings">
          Settings
        </NavLink>
      </nav>
      <Link className="link-as-button new-story" to="/" state={{ newStory: true }} data-testid="new-story-link">
        New story
      </Link>
      {multiUser && <UserMenu onLogout={() => owner !== null && forgetLastStory(owner)} />}
    </header>
  );
}
