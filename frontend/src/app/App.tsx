import { HashRouter, Navigate, Route, Routes } from 'react-router-dom';
import { ErrorMessage } from '../components/ErrorMessage';
import { PageTitle } from '../components/PageTitle';
import { LoginPage, useAuthMode, useToken } from '../features/auth';
import { SettingsPage, useLegacySettingsMigration } from '../features/settings';
import { StoryPage } from '../features/story';
import { AppHeader } from './AppHeader';

/** The app once the user may use it (always in single-user mode, after login in multi-user mode). */
function SignedInApp({ multiUser }: { multiUser: boolean }) {
  useLegacySettingsMigration();
  return (
    // Hash routes work however the bundle is served: Vite on :3000 or the backend on :5000.
    <HashRouter>
      <AppHeader multiUser={multiUser} />
      <main>
        <Routes>
          {/* One Story page for both, so a new story keeps its editor when it gets its own URL: the
              page is the parent's element, and the children only name its URLs (each renders
              nothing in its place, said outright so the router does not take the page for missing). */}
          <Route element={<StoryPage />}>
            <Route path="/" element={null} />
            <Route path="/story/:id" element={null} />
          </Route>
          <Route
            path="/settings"
            element={
              <PageTitle title="Settings">
                <SettingsPage />
              </PageTitle>
            }
          />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Routes>
      </main>
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
