-- Users by their manager: once a user is created in a job's target, the engine looks up
-- the users whose manager it is (their manager reference can now be written). The lookup
-- names the kind and this very expression, so it reads this index instead of every
-- user's resource.
CREATE INDEX directory_entries_manager ON directory_entries (
    kind,
    json_extract(resource, '$."urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".manager.value')
);
