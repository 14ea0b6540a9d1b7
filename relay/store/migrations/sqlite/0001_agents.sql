-- Agents and the one-time tokens that register them.
CREATE TABLE registration_tokens (
    id          TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    agent_name  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL,
    used_at     REAL
);

CREATE TABLE agents (
    name             TEXT PRIMARY KEY,
    public_key       TEXT NOT NULL,
    registered_at    REAL NOT NULL,
    revoked_at       REAL,
    software         TEXT NOT NULL DEFAULT '',
    protocol_version INTEGER,
    connectors       TEXT NOT NULL DEFAULT '[]',
    session          TEXT,
    connected_at     REAL,
    last_seen_at     REAL,
    disconnected_at  REAL
);
