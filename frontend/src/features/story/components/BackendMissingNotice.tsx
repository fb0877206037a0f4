import { Link } from 'react-router-dom';
import { useBackends } from '../../settings';

/** "LM Studio, Ollama or ChatGPT": each choice once, the last after "or". */
function oneOf(labels: string[]): string {
  return labels.length > 1 ? `${labels.slice(0, -1).join(', ')} or ${labels[labels.length - 1]}` : (labels[0] ?? 'a backend');
}

/** No backend is saved yet: the way to Settings, naming the backends the server offers. */
export function BackendMissingNotice() {
  const backends = useBackends().data?.backends ?? [];
  return (
    <div className="notice notice-warning" role="alert" data-testid="backend-missing">
      <p>
        <strong>No LLM backend is set up yet.</strong> Choose {oneOf(backends.map((backend) => backend.label))} in{' '}
        <Link to="/settings">Settings</Link>, test the connection and save.
      </p>
    </div>
  );
}
