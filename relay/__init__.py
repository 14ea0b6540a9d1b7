"""The relay: agent endpoint and hub, directory, engine, admin API and store."""
