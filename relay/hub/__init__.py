"""The hub: where agents connect and where the rest of the relay sends them work."""
