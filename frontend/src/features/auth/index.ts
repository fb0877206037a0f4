// The auth feature's public face: the app imports it from here only.
export { useAuthMode } from './api/get-auth-mode';
export { useCurrentUser } from './api/get-current-user';
export { LoginPage } from './components/LoginPage';
export { UserMenu } from './components/UserMenu';
export { useToken } from './hooks/useToken';
