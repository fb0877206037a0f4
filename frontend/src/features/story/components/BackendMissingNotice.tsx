import { Link } from 'react-router-dom';

export function BackendMissingNotice() {
  return (
    <div className="notice notice-warning" role="alert" data-testid="backend-missing">
      <p>
        <strong>No LLM backend is set up yet.</strong> Choose LM Studio, Ollama or ChatGPT in{' '}
        <Link to="/settings">Settings</Link>, test the connection and save.
      </p>
    </div>
  );
}
