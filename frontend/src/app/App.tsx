import { HashRouter } from 'react-router-dom';
import { ErrorMessage } from '../components/ErrorMessage';
import { PageTitle } from '../components/PageTitle';
import { LoginPage, useAuthMode, useCurrentUser, useToken } from '../features/auth';
import { useLegacySettingsMigration } from '../features/settings';
import type { StoryOwner } from '../features/story';
import { AppShell } from './AppShell';

/** Whose stories the browser remembers things for: the one user of a personal install, or the signed-in user (null until known). */
function useStoryOwner(multiUser: boolean): StoryOwner | null {
  const user = useCurrentUser(multiUser);
  if (!multiUser) return 'local';
  return user.data ? `user-${user.data.id}` : null;
}

/** The app once the user may use it (always in single-user mode, after login in multi-user mode). */
function SignedInApp({ multiUser }: { multiUser: boolean }) {
  useLegacySettingsMigration();
  const owner = useStoryOwner(multiUser);
  return (
    // Hash routes work however the bundle is served: Vite on :3000 or the backend on :5000.
    <HashRouter>
      <AppShell multiUser={multiUser} owner={owner} />
    </HashRouter>
  );
}

export function App() {
  const authMode = useAuthMode();
  const token = useToken();

  if (authMode.isPending) {
    return (
      <p className="page" role="status">
        Connecting to Taleweaver…
      </p>
    );
  }
  if (authMode.isError) {
    return (
      <div className="page">
        <ErrorMessage error={authMode.error} onRetry={() => void authMode.refetch()} />
      </div>
    );
  }
  const multiUser = authMode.data.mode === 'multi';
  if (multiUser && !token) {
    return (
      <PageTitle title="Log in">
        <LoginPage />
      </PageTitle>
    );
  }
  return <SignedInApp multiUser={multiUser} />;
}
