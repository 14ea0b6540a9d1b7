"""The engine's pure parts: source objects, expressions, mappings and scoping."""
