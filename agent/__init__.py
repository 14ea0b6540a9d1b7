"""The on-premises agent: dials out to the relay and runs operations through connectors."""
