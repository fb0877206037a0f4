import { useQuery } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { useMatch, useNavigate } from 'react-router-dom';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { useLLMSettings } from '../../settings';
import { storyQueryOptions } from '../api/get-story';
import { BackendMissingNotice } from './BackendMissingNotice';
import { StoryEditor } from './StoryEditor';
import { StoryLibrary } from './StoryLibrary';

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

/** A story that exists on the server: loaded first, and never saved over if it could not be read. */
function SavedStory({ id, ...props }: { id: number } & Omit<Parameters<typeof StoryEditor>[0], 'initial' | 'onCreated'>) {
  const story = useQuery({ ...storyQueryOptions(id), retry: false, refetchOnWindowFocus: false, refetchOnReconnect: false });
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

/** The Story page: `#/` starts a new story, `#/story/<id>` goes on with one. */
export function StoryPage() {
  const settings = useLLMSettings();
  const match = useMatch('/story/:id');
  const navigate = useNavigate();
  const parsed = match ? Number(match.params.id) : null;
  const wanted = parsed !== null && Number.isInteger(parsed) && parsed > 0 ? parsed : null;
  const [session, setSession] = useState<Session>({ key: 0, routeId: wanted, storyId: wanted, startedNew: wanted === null });

  if (wanted !== session.routeId) {
    if (wanted !== null && wanted === session.storyId) setSession({ ...session, routeId: wanted });
    else setSession({ key: session.key + 1, routeId: wanted, storyId: wanted, startedNew: wanted === null });
  }

  // A new story names itself in the URL once the server has it, so a reload opens it again.
  useEffect(() => {
    if (session.storyId !== null && session.routeId === null) navigate(`/story/${session.storyId}`, { replace: true });
  }, [navigate, session.storyId, session.routeId]);

  const notConfigured = settings.data?.backend_type === null;
  const editorProps = { settings: settings.data, canGenerate: !notConfigured };
  const { key } = session;

  return (
    <div className="page">
      <h1>Write a story</h1>
      {notConfigured && <BackendMissingNotice />}
      {session.startedNew ? (
        <StoryEditor
          key={key}
          initial={null}
          onCreated={(story) => setSession((current) => (current.key === key ? { ...current, storyId: story.id } : current))}
          {...editorProps}
        />
      ) : (
        session.storyId !== null && <SavedStory key={key} id={session.storyId} {...editorProps} />
      )}
      <StoryLibrary openStoryId={session.storyId} />
    </div>
  );
}
