-- The directory: users and groups (one table; the SCIM resource as jsonb), memberships,
-- assignments to jobs and the change log the engine follows.
CREATE TABLE directory_entries (
    pos          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    -- userName (users) or displayName (groups), lower-cased, for fast case-insensitive lookups
    name_key     TEXT NOT NULL COLLATE "C",
    external_id  TEXT COLLATE "C",
    resource     JSONB NOT NULL,
    version      INTEGER NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    modified_at  DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX directory_user_names ON directory_entries (name_key) WHERE kind = 'user';
CREATE INDEX directory_entries_name ON directory_entries (kind, name_key);
CREATE INDEX directory_entries_external_id ON directory_entries (kind, external_id);

CREATE TABLE directory_members (
    group_id   TEXT NOT NULL REFERENCES directory_entries (id) ON DELETE CASCADE,
    member_id  TEXT NOT NULL REFERENCES directory_entries (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, member_id)
);
CREATE INDEX directory_members_member ON directory_members (member_id);

CREATE TABLE directory_assignments (
    job       TEXT NOT NULL,
    entry_id  TEXT NOT NULL REFERENCES directory_entries (id) ON DELETE CASCADE,
    role      TEXT,
    PRIMARY KEY (job, entry_id)
);
CREATE INDEX directory_assignments_entry ON directory_assignments (entry_id);

-- Writers take an advisory lock first, so sequence numbers commit in order.
CREATE TABLE directory_changes (
    seq       BIGSERIAL PRIMARY KEY,
    at        DOUBLE PRECISION NOT NULL,
    kind      TEXT NOT NULL,
    entry_id  TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    JSONB NOT NULL
);
