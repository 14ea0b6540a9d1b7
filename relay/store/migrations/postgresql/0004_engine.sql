-- The provisioning engine: jobs, their cycles, what was last written per linked entry
-- (shadows), failed entries to retry, deprovisions staged by the deletion guard, the
-- provisioning logs and on-demand requests from other processes (the CLI).

-- Engine reads page through users and groups separately, by id.
CREATE INDEX directory_entries_kind_id ON directory_entries (kind, id);

CREATE TABLE engine_jobs (
    name               TEXT PRIMARY KEY,
    spec               TEXT NOT NULL,
    state              TEXT NOT NULL
                       CHECK (state IN ('created', 'running', 'paused', 'quarantined')),
    version            INTEGER NOT NULL,
    created_at         DOUBLE PRECISION NOT NULL,
    updated_at         DOUBLE PRECISION NOT NULL,
    cursor             BIGINT NOT NULL DEFAULT 0,
    initial_done       BOOLEAN NOT NULL DEFAULT FALSE,
    quarantine_reason  TEXT,
    next_attempt_at    DOUBLE PRECISION,
    quarantine_count   INTEGER NOT NULL DEFAULT 0,
    reconciled_at      DOUBLE PRECISION
);

CREATE TABLE engine_cycles (
    pos          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    job          TEXT NOT NULL REFERENCES engine_jobs (name) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('initial', 'incremental', 'reconcile')),
    state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed', 'stopped')),
    started_at   DOUBLE PRECISION NOT NULL,
    finished_at  DOUBLE PRECISION,
    total        INTEGER,
    done         INTEGER NOT NULL DEFAULT 0,
    counts       JSONB NOT NULL DEFAULT '{}',
    checkpoint   JSONB,
    error        TEXT
);
CREATE INDEX engine_cycles_job ON engine_cycles (job, pos);

CREATE TABLE engine_shadows (
    job               TEXT NOT NULL REFERENCES engine_jobs (name) ON DELETE CASCADE,
    kind              TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    entry_id          TEXT NOT NULL,
    anchor            TEXT NOT NULL,
    attribute_values  JSONB NOT NULL,
    source_version    INTEGER NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('linked', 'disabled', 'held')),
    updated_at        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job, kind, entry_id)
);

CREATE TABLE engine_retries (
    job              TEXT NOT NULL REFERENCES engine_jobs (name) ON DELETE CASCADE,
    kind             TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    entry_id         TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    error_class      TEXT NOT NULL,
    error            TEXT NOT NULL,
    first_failed_at  DOUBLE PRECISION NOT NULL,
    -- NULL: not until the source entry changes.
    next_attempt_at  DOUBLE PRECISION,
    source_version   INTEGER NOT NULL,
    -- When the record was last written (the latest failure), for listing.
    updated_at       DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (job, kind, entry_id)
);
CREATE INDEX engine_retries_due ON engine_retries (job, next_attempt_at);
CREATE INDEX engine_retries_recent ON engine_retries (job, updated_at);

CREATE TABLE engine_staged (
    id          BIGSERIAL PRIMARY KEY,
    job         TEXT NOT NULL REFERENCES engine_jobs (name) ON DELETE CASCADE,
    cycle       TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    entry_id    TEXT NOT NULL,
    anchor      TEXT NOT NULL,
    action      TEXT NOT NULL CHECK (action IN ('disable', 'delete')),
    reason      TEXT NOT NULL,
    display     TEXT NOT NULL,
    staged_at   DOUBLE PRECISION NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('pending', 'approved', 'rejected')),
    decided_at  DOUBLE PRECISION
);
CREATE INDEX engine_staged_job ON engine_staged (job, decision, id);

-- No reference to engine_jobs: the logs of a deleted job stay until retention removes them.
CREATE TABLE engine_logs (
    id            BIGSERIAL PRIMARY KEY,
    job           TEXT NOT NULL,
    cycle         TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    entry_id      TEXT NOT NULL,
    action        TEXT NOT NULL
                  CHECK (action IN ('create', 'link', 'update', 'disable', 'delete', 'unlink',
                                    'none')),
    status        TEXT NOT NULL CHECK (status IN ('success', 'failure', 'skipped', 'staged')),
    at            DOUBLE PRECISION NOT NULL,
    source_name   TEXT NOT NULL,
    -- source_name lower-cased (Unicode, by the store), for case-insensitive lookups
    source_key    TEXT NOT NULL,
    anchor        TEXT,
    reason        TEXT,
    error_class   TEXT,
    changes       JSONB NOT NULL,
    steps         JSONB NOT NULL,
    duration_ms   DOUBLE PRECISION NOT NULL
);
CREATE INDEX engine_logs_job ON engine_logs (job, id);
CREATE INDEX engine_logs_entry ON engine_logs (entry_id);
CREATE INDEX engine_logs_source ON engine_logs (source_key);
CREATE INDEX engine_logs_cycle ON engine_logs (cycle);
CREATE INDEX engine_logs_at ON engine_logs (at);

CREATE TABLE engine_requests (
    pos          BIGSERIAL PRIMARY KEY,
    id           TEXT NOT NULL UNIQUE,
    job          TEXT NOT NULL REFERENCES engine_jobs (name) ON DELETE CASCADE,
    kind         TEXT NOT NULL,
    args         JSONB NOT NULL,
    created_at   DOUBLE PRECISION NOT NULL,
    finished_at  DOUBLE PRECISION,
    result       JSONB,
    error        TEXT
);
CREATE INDEX engine_requests_job ON engine_requests (job);
CREATE INDEX engine_requests_open ON engine_requests (pos) WHERE finished_at IS NULL;
