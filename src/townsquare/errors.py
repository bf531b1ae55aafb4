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


class NotFound(TownsquareError):
    """The community, member, rule or entry named does not exist."""

    status = 404
    code = "not_found"


class ConfigInvalid(TownsquareError):
    """A community configuration change failed validation; nothing was changed.

    ``errors`` lists each problem with its location in the configuration document
    (``("multipliers", "channel_rules", 3, "multiplier")``), so an editor can show the
    message next to the field.
    """

    status = 422
    code = "config_invalid"

    def __init__(self, errors: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.errors = errors
        listed = "; ".join(f"{_dotted(loc) or 'config'}: {message}" for loc, message in errors)
        super().__init__(f"The configuration is not valid: {listed}")


class ConfigConflict(TownsquareError):
    """An edit was based on a version of a configuration section that is no longer current."""

    status = 409
    code = "config_conflict"

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


class IdempotencyConflict(TownsquareError):
    """An idempotency key was reused for a different request."""

    status = 409
    code = "idempotency_conflict"


def _dotted(loc: tuple[str | int, ...]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(".")
