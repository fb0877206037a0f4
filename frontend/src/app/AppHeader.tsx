import { NavLink } from 'react-router-dom';
import { UserMenu } from '../features/auth';

export function AppHeader({ multiUser }: { multiUser: boolean }) {
  return (
    <header className="app-header">
      <span className="brand">Taleweaver</span>
      <nav aria-label="Main">
        <NavLink to="/" end data-testid="nav-story">
          Story
        </NavLink>
        <NavLink to="/settings" data-testid="nav-settings">
          Settings
        </NavLink>
      </nav>
      {multiUser && <UserMenu />}
    </header>
  );
}
