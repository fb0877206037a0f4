import { useQuery } from '@tanstack/react-query';
import { useCallback, useEffect, useState } from 'react';
import { Navigate, useLocation, useMatch, useNavigate } from 'react-router-dom';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { ApiError } from '../../../lib/api-client';
import { useLLMSettings } from '../../settings';
import { storyQueryOptions } from '../api/get-story';
import { forgetLastStory, lastStoryOf, rememberLastStory, type StoryOwner } from '../lib/last-story';
import { BackendMissingNotice } from './BackendMissingNotice';
import { StoryEditor } from './StoryEditor';

interface Session {
  /** Remounts the editor for another story. */
  key: number;
  /** The story the URL names (null: `#/`, a new story). */
  routeId: number | null;
  /** The story the editor holds (a new story gets one once it is created). */
  storyId: number | null;
  /** The editor began as a new story (it stays mounted when that story gets its id and URL). */
  startedNew: boolean;
}

type SavedStoryProps = { id: number; onOpened: () => void; onMissing: () => void } & Omit<Parameters<typeof StoryEditor>[0], 'initial' | 'onCreated'>;

/** A story that exists on the server: loaded first, and never saved over if it could not be read. */
function SavedStory({ id, onOpened, onMissing, ...props }: SavedStoryProps) {
  const story = useQuery({ ...storyQueryOptions(id), retry: false, refetchOnWindowFocus: false, refetchOnReconnect: false });
  const opened = story.data !== undefined;
  const missing = story.error instanceof ApiError && story.error.status === 404;
  useEffect(() => {
    if (opened) onOpened();
    if (missing) onMissing();
  }, [opened, missing, onOpened, onMissing]);
  if (story.isPending) {
    return (
      <p className="card" role="status">
        Opening the story…
      </p>
    );
  }
  if (story.error) {
    return (
      <ErrorMessage error={story.error} title="Could not open the story" onRetry={() => void story.refetch()} testId="story-load-error">
        <p>Nothing is saved while the story cannot be read, so nothing on the server is overwritten.</p>
      </ErrorMessage>
    );
  }
  return <StoryEditor initial={story.data} onCreated={() => undefined} {...props} />;
}

/** Remembers the story open on the page as the owner's last story once it opened; forgets it when it is gone. */
function useRememberedStory(owner: StoryOwner | null, storyId: number | null) {
  const remember = useCallback(() => {
    if (owner !== null && storyId !== null) rememberLastStory(owner, storyId);
  }, [owner, storyId]);
  const forget = useCallback(() => {
    if (owner !== null && storyId !== null) forgetLastStory(owner, storyId);
  }, [owner, storyId]);
  return { remember, forget };
}

/**
 * The Story page: `#/story/<id>` goes on with one story; `#/` comes back to the story last open
 * (remembered for `owner`), or starts a new one when there is none or "New story" asked for one.
 * `owner` is null until the signed-in user is known.
 */
export function StoryPage({ owner }: { owner: StoryOwner | null }) {
  const settings = useLLMSettings();
  const match = useMatch('/story/:id');
  const location = useLocation();
  const navigate = useNavigate();
  const parsed = match ? Number(match.params.id) : null;
  const wanted = parsed !== null && Number.isInteger(parsed) && parsed > 0 ? parsed : null;
  const askedForNew = (location.state as { newStory?: boolean } | null)?.newStory === true;
  const [session, setSession] = useState<Session>({ key: 0, routeId: wanted, storyId: wanted, startedNew: wanted === null });

  if (wanted !== session.routeId) {
    if (wanted !== null && wanted === session.storyId) setSession({ ...session, routeId: wanted });
    else setSession({ key: session.key + 1, routeId: wanted, storyId: wanted, startedNew: wanted === null });
  }

  // A new story names itself in the URL once the server has it, so a reload opens it again.
  useEffect(() => {
    if (session.storyId !== null && session.routeId === null) navigate(`/story/${session.storyId}`, { replace: true });
  }, [navigate, session.storyId, session.routeId]);

  const { key, storyId } = session;
  const { remember, forget } = useRememberedStory(owner, storyId);

  const comingBack = wanted === null && storyId === null && !askedForNew;
  if (comingBack && owner === null) {
    return (
      <p className="page" role="status">
        Opening your story…
      </p>
    );
  }
  const last = comingBack && owner !== null ? lastStoryOf(owner) : null;
  if (last !== null) return <Navigate to={`/story/${last}`} replace />;

  const notConfigured = settings.data?.backend_type === null;
  const editorProps = { settings: settings.data, canGenerate: !notConfigured };
  return (
    <div className="story-page">
      <h1 className="visually-hidden">Write a story</h1>
      {notConfigured && <BackendMissingNotice />}
      {session.startedNew ? (
        <StoryEditor
          key={key}
          initial={null}
          onCreated={(story) => {
            if (owner !== null) rememberLastStory(owner, story.id);
            setSession((current) => (current.key === key ? { ...current, storyId: story.id } : current));
          }}
          {...editorProps}
        />
      ) : (
        storyId !== null && <SavedStory key={key} id={storyId} onOpened={remember} onMissing={forget} {...editorProps} />
      )}
    </div>
  );
}
