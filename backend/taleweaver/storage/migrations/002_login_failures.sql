-- Failed logins, shared by every worker process, for rate limiting.
CREATE TABLE login_failures (
    attempt_key TEXT NOT NULL,
    failed_at REAL NOT NULL
);

CREATE INDEX login_failures_by_key ON login_failures (attempt_key, failed_at);
