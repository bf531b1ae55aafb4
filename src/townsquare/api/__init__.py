"""The HTTP API (FastAPI): one router per area, problem+json errors, health and readiness."""
