-- The last connection test of each backend's form values, saved or not: when those exact values
-- are then saved, that test is the saved backend's last test. One row per user and backend type.
CREATE TABLE connection_tests (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    backend_type TEXT NOT NULL,
    config_json TEXT NOT NULL,
    outcome_json TEXT NOT NULL,
    PRIMARY KEY (user_id, backend_type)
);
