-- Named bearer tokens of the admin API and dashboard, each with a role (viewer or admin).
-- Only a hash of each is kept; a name is in force at most once (a revoked name may be reused).
CREATE TABLE api_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'admin')),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  DOUBLE PRECISION NOT NULL,
    revoked_at  DOUBLE PRECISION
);
CREATE UNIQUE INDEX api_tokens_name_in_force ON api_tokens (name) WHERE revoked_at IS NULL;
