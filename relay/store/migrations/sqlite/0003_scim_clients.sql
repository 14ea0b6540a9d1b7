-- Bearer tokens of the clients (identity providers) that push to the SCIM endpoint. A client
-- may hold several tokens (to rotate without downtime); only a hash of each is kept.
CREATE TABLE scim_tokens (
    id          TEXT PRIMARY KEY,
    client      TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  REAL NOT NULL,
    revoked_at  REAL
);
CREATE INDEX scim_tokens_client ON scim_tokens (client);
