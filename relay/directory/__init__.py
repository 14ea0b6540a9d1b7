"""The relay's directory: users, groups and memberships, fed by its inbound SCIM 2.0 server."""
