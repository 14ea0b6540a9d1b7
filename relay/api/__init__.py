"""The relay's operator surface: the admin REST API under ``/api/v1`` (with its OpenAPI
document), the dashboard, Prometheus metrics and the health endpoints."""
