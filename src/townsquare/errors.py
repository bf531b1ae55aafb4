"""Typed errors raised in the middle and translated once at each edge.

Every error carries a message written for the person who has to act on it (an operator
at a terminal, an admin in the dashboard) — never a traceback. The CLI turns any
``TownsquareError`` into that message on stderr and ``exit_code``; the API turns it into
problem+json with ``status``.
"""

from __future__ import annotations


class TownsquareError(Exception):
    """Base of every error we expect and explain."""

    exit_code: int = 2
    status: int = 500
    code: str = "townsquare_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SettingsInvalid(TownsquareError):
    """A setting has a value outside what is allowed, or the config file is unusable."""

    code = "settings_invalid"


class DatabaseUnavailable(TownsquareError):
    """PostgreSQL cannot be reached, refused us, or is not a version we support."""

    status = 503
    code = "database_unavailable"


class PoolExhausted(DatabaseUnavailable):
    """Every pooled connection stayed busy for longer than ``database.pool_timeout``."""

    code = "database_pool_exhausted"


class EmbeddedServerError(TownsquareError):
    """The embedded PostgreSQL could not be initialised, started or stopped."""

    code = "embedded_server_error"


class EmbeddedServerBusy(EmbeddedServerError):
    """Another Townsquare process owns the embedded PostgreSQL data directory."""

    code = "embedded_server_busy"


class SchemaError(TownsquareError):
    """The database schema is missing, ahead of this code, or a migration failed."""

    code = "schema_error"


class NotifyRejected(TownsquareError):
    """A NOTIFY was refused before it reached PostgreSQL (unknown channel, payload too large)."""

    code = "notify_rejected"
