import { useCurrentUser } from '../api/get-current-user';
import { useLogout } from '../api/logout';

/** Who is logged in, and the way out (multi-user mode only); `onLogout` forgets what the app kept for this user in the browser. */
export function UserMenu({ onLogout }: { onLogout: () => void }) {
  const user = useCurrentUser();
  const logout = useLogout();
  return (
    <div className="user-menu">
      {user.data && <span className="muted">{user.data.username}</span>}
      <button
        type="button"
        className="button-secondary"
        onClick={() => {
          onLogout();
          logout.mutate();
        }}
        disabled={logout.isPending}
        data-testid="logout-button"
      >
        {logout.isPending ? 'Logging out…' : 'Log out'}
      </button>
    </div>
  );
}
