"""Built-in connectors, one module per connector type, found through the registry."""
