-- The directory: users and groups (one table; the SCIM resource as JSON), memberships,
-- assignments to jobs and the change log the engine follows.
CREATE TABLE directory_entries (
    pos          INTEGER PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    -- userName (users) or displayName (groups), lower-cased, for fast case-insensitive lookups
    name_key     TEXT NOT NULL,
    external_id  TEXT,
    resource     TEXT NOT NULL,
    version      INTEGER NOT NULL,
    created_at   REAL NOT NULL,
    modified_at  REAL NOT NULL
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

-- AUTOINCREMENT: a sequence number is never reused, even after the newest row is deleted.
CREATE TABLE directory_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        REAL NOT NULL,
    kind      TEXT NOT NULL,
    entry_id  TEXT NOT NULL,
    action    TEXT NOT NULL,
    detail    TEXT NOT NULL
);
