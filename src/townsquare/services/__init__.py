"""Business rules over the store, one package per domain (polar-style).

Every service takes the caller's ``AsyncSession`` and only flushes: the caller (an API
request, a bot interaction, a CLI command) owns the unit of work, so a change, its audit
entry and its NOTIFY commit or roll back together. Services return pydantic DTOs, never
ORM rows, so nothing lazy-loads after the session is gone.
"""
