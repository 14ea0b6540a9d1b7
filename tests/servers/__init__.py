"""Throwaway servers for integration tests.

Each server runs from its own temporary folder on a free loopback port, so the tests never
depend on (or disturb) the system's own slapd, PostgreSQL or MariaDB services.
"""
