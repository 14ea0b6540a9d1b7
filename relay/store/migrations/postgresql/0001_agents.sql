-- Agents and the one-time tokens that register them.
CREATE TABLE registration_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    agent_name  TEXT NOT NULL,
    created_at  DOUBLE PRECISION NOT NULL,
    expires_at  DOUBLE PRECISION NOT NULL,
    used_at     DOUBLE PRECISION
);

CREATE TABLE agents (
    name             TEXT PRIMARY KEY,
    public_key       TEXT NOT NULL,
    registered_at    DOUBLE PRECISION NOT NULL,
    revoked_at       DOUBLE PRECISION,
    software         TEXT NOT NULL DEFAULT '',
    protocol_version INTEGER,
    connectors       TEXT NOT NULL DEFAULT '[]',
    session          TEXT,
    connected_at     DOUBLE PRECISION,
    last_seen_at     DOUBLE PRECISION,
    disconnected_at  DOUBLE PRECISION
);
