import { NavLink } from 'react-router-dom';
import { useCurrentUser, useLogout } from '../../services/auth';

function UserMenu() {
  const user = useCurrentUser();
  const logout = useLogout();
  return (
    <div className="user-menu">
      {user.data && <span className="muted">{user.data.username}</span>}
      <button
        type="button"
        className="button-secondary"
        onClick={() => logout.mutate()}
        disabled={logout.isPending}
        data-testid="logout-button"
      >
        {logout.isPending ? 'Logging out…' : 'Log out'}
      </button>
    </div>
  );
}

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
