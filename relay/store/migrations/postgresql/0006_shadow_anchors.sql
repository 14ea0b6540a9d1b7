-- Shadows by anchor: before a search-found target account is linked to a directory entry,
-- the engine checks that no other entry of the job holds it already.
CREATE INDEX engine_shadows_anchor ON engine_shadows (job, kind, anchor);
