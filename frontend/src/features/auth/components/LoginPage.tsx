import { type FormEvent, useState } from 'react';
import { ErrorMessage } from '../../../components/ErrorMessage';
import { TextField } from '../../../components/TextField';
import { useLogin } from '../api/login';

export function LoginPage() {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const login = useLogin();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    login.mutate({ username, password });
  };

  return (
    <div className="page page-narrow">
      <header className="app-header">
        <span className="brand">Taleweaver</span>
      </header>
      <form className="card" onSubmit={submit} aria-labelledby="login-heading">
        <h1 id="login-heading">Log in</h1>
        <TextField
          id="login-username"
          label="Username"
          autoComplete="username"
          value={username}
          onChange={setUsername}
          required
          testId="login-username"
        />
        <TextField
          id="login-password"
          label="Password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={setPassword}
          required
          testId="login-password"
        />
        {login.error && <ErrorMessage error={login.error} title="Not logged in" testId="login-error" />}
        <div className="actions">
          <button type="submit" className="button-primary" disabled={login.isPending} data-testid="login-button">
            {login.isPending ? 'Logging in…' : 'Log in'}
          </button>
        </div>
      </form>
    </div>
  );
}
