import { Navigate, Route, Routes } from 'react-router-dom';
import { PageTitle } from '../components/PageTitle';
import { SettingsPage } from '../features/settings';
import { StoryLibrary, StoryPage, type StoryOwner } from '../features/story';
import { AppHeader } from './AppHeader';

/** The header and the pages under it, for a signed-in user; `owner` is whose stories the browser remembers things for. */
export function AppShell({ multiUser, owner }: { multiUser: boolean; owner: StoryOwner | null }) {
  return (
    <>
      <AppHeader multiUser={multiUser} owner={owner} />
      <main>
        <Routes>
          {/* One Story page for both, so a new story keeps its editor when it gets its own URL: the
              page is the parent's element, and the children only name its URLs (each renders
              nothing in its place, said outright so the router does not take the page for missing). */}
          <Route element={<StoryPage owner={owner} />}>
            <Route path="/" element={null} />
            <Route path="/story/:id" element={null} />
          </Route>
          <Route
            path="/library"
            element={
              <PageTitle title="Library">
                <StoryLibrary owner={owner} />
              </PageTitle>
            }
          />
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
    </>
  );
}
