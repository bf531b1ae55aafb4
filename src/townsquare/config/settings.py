"""One typed settings tree for the whole process.

Read once in the entrypoint (CLI command, test fixture) and passed down; nothing reads the
environment anywhere else. Every setting can come from an environment variable named
``TOWNSQUARE_<SECTION>_<FIELD>`` (``TOWNSQUARE_DATABASE_POOL_TIMEOUT``) or from a TOML file
(``[database] pool_timeout = 5``) given with ``--config`` / ``TOWNSQUARE_CONFIG``; the
environment wins over the file. Unknown keys in the file are errors, so a typo is caught
instead of silently ignored (the predecessor's settings UI edited keys nothing read).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import limits
import platformdirs
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from townsquare.errors import SettingsInvalid

ENV_PREFIX = "TOWNSQUARE_"
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+psycopg"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Where PostgreSQL is and how the connection pool behaves."""

    url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL (postgresql://user:password@host:5432/dbname). "
            "Empty: start the embedded PostgreSQL in embedded.data_dir."
        ),
    )
    pool_size: int = Field(default=10, ge=1, le=500, description="Connections kept open.")
    max_overflow: int = Field(
        default=10, ge=0, le=500, description="Extra connections allowed above pool_size."
    )
    pool_timeout: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Seconds to wait for a free connection before failing with a clear error.",
    )
    pool_recycle: int = Field(
        default=1800, ge=-1, description="Seconds after which a connection is replaced (-1: never)."
    )
    pool_pre_ping: bool = Field(
        default=True, description="Test each connection before use, so a restart is survived."
    )
    connect_timeout: int = Field(
        default=5,
        ge=1,
        le=120,
        description="Seconds to wait for PostgreSQL to accept a connection.",
    )
    statement_timeout_ms: int = Field(
        default=30_000, ge=0, description="Server-side limit for one statement (0: none)."
    )

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            parsed = make_url(value.strip())
        except ArgumentError:
            raise ValueError(
                "not a URL; expected postgresql://user:password@host:5432/dbname"
            ) from None
        if parsed.drivername not in _POSTGRES_DRIVERS:
            raise ValueError(
                f"scheme {parsed.drivername!r} is not PostgreSQL; "
                "expected postgresql://user:password@host:5432/dbname"
            )
        return value.strip()


class EmbeddedSettings(_Section):
    """The PostgreSQL that Townsquare starts itself when ``database.url`` is empty."""

    data_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("townsquare")) / "postgres",
        description="Directory holding the embedded cluster; reused across runs.",
    )
    start_timeout: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="Seconds to wait for the server to accept connections.",
    )


class LogSettings(_Section):
    """How the process writes its log lines."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", description="Lowest level written."
    )
    format: Literal["auto", "json", "console"] = Field(
        default="auto", description="auto: readable in a terminal, JSON lines otherwise."
    )

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ApiSettings(_Section):
    """The HTTP server (`townsquare serve`, `townsquare demo`)."""

    host: str = Field(default="127.0.0.1", description="Interface to listen on.")
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port (0: any free port).")
    rate_limit_storage: str = Field(
        default="memory://",
        description=(
            "Where rate-limit counters live: memory:// (one process) or redis://host:6379 "
            "(shared by every API process; each check is one atomic Redis operation)."
        ),
    )
    read_rate_limit: str = Field(
        default="300/minute", description="Public reads allowed per client IP."
    )
    mutation_rate_limit: str = Field(
        default="60/minute", description="Admin changes allowed per caller."
    )

    @field_validator("read_rate_limit", "mutation_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        try:
            limits.parse(value)
        except ValueError:
            raise ValueError("must look like '300/minute' or '10/second'") from None
        return value


class AuthSettings(_Section):
    """Sign-in: sessions, Discord OAuth2 and LINE Login. Providers without a client id are off."""

    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Where browsers reach this server; OAuth redirect URIs are built from it.",
    )
    session_days: int = Field(default=14, ge=1, le=365, description="Days a sign-in lasts.")
    session_retention_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description=(
            "Days an ended (expired or revoked) session is kept before it is deleted with "
            "its IP address and user agent."
        ),
    )
    cookie_secure: bool = Field(
        default=True,
        description="Send the session cookie over HTTPS only (browsers allow http://localhost).",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "Key that encrypts Discord grants at rest, so sign-ins survive restarts and work "
            "on every API process. Empty: grants stay in one process's memory. Generate one "
            "with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        ),
    )
    role_refresh_minutes: int = Field(
        default=15,
        ge=1,
        le=1440,
        description="How often a signed-in Discord user's guild roles are checked again.",
    )
    discord_client_id: str | None = Field(default=None, description="Discord OAuth2 client id.")
    discord_client_secret: SecretStr | None = Field(
        default=None, description="Discord OAuth2 client secret."
    )
    discord_authorize_url: str = Field(
        default="https://discord.com/oauth2/authorize", description="Discord's consent page."
    )
    discord_api_url: str = Field(
        default="https://discord.com/api/v10", description="Discord's API (token, users, guilds)."
    )
    line_channel_id: str | None = Field(default=None, description="LINE Login channel id.")
    line_channel_secret: SecretStr | None = Field(
        default=None, description="LINE Login channel secret."
    )
    line_authorize_url: str = Field(
        default="https://access.line.me/oauth2/v2.1/authorize", description="LINE's consent page."
    )
    line_api_url: str = Field(
        default="https://api.line.me", description="LINE Login's API (token, verify)."
    )


class DiscordSettings(_Section):
    """The Discord bot (`townsquare run`). Without a token the Discord adapter is off."""

    token: SecretStr | None = Field(
        default=None,
        description=(
            "Bot token from https://discord.com/developers/applications (Bot → Reset Token)."
        ),
    )
    shard_count: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Total shards of the bot. Empty: ask Discord (recommended shard count).",
    )
    shard_ids: tuple[int, ...] | None = Field(
        default=None,
        description=(
            "Shards this process runs (needs shard_count), e.g. [0, 1] here and [2, 3] on "
            "another process. Empty: all of them."
        ),
    )
    message_content: bool = Field(
        default=False,
        description=(
            "Ask for the privileged Message Content intent (enable it in the developer portal "
            "first). Off: only message metadata is read, and quality rules that need the text "
            "(length tiers, links, duplicates) treat every message alike."
        ),
    )
    members: bool = Field(
        default=False,
        description=(
            "Ask for the privileged Server Members intent (enable it in the developer portal "
            "first): member join/leave rewards and level roles restored when someone rejoins."
        ),
    )
    sync_commands: bool = Field(
        default=True, description="Register the slash commands with Discord at start-up."
    )
    command_guild_ids: tuple[str, ...] = Field(
        default=(),
        description=(
            "Register slash commands in these guilds only (instant, for testing). Empty: globally."
        ),
    )
    api_url: str = Field(
        default="https://discord.com",
        description=(
            "Base URL of Discord's REST API; point it at a REST proxy shared by several "
            "shard processes (e.g. nirn-proxy) if you run one."
        ),
    )
    voice_checkpoint_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description=(
            "How often open voice sessions are checkpointed, bounding what a crash can cost."
        ),
    )
    role_sync_concurrency: int = Field(
        default=4, ge=1, le=50, description="Role grants/removals in flight at once."
    )

    @field_validator("shard_ids")
    @classmethod
    def _unique_shards(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and (not value or len(set(value)) != len(value) or min(value) < 0):
            raise ValueError("must be a non-empty list of distinct shard numbers >= 0")
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> DiscordSettings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("shard_ids needs shard_count")
            if max(self.shard_ids) >= self.shard_count:
                raise ValueError("every shard id must be below shard_count")
        return self


class LineChannelSettings(_Section):
    """One LINE Official Account (a Messaging API channel) the bot serves."""

    key: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{0,39}$",
        description="Short name in the webhook URL: https://HOST/line/webhook/KEY.",
    )
    secret: SecretStr = Field(description="Channel secret (Basic settings): verifies webhooks.")
    access_token: SecretStr = Field(
        description="Channel access token (Messaging API tab): sends replies."
    )
    community: str | None = Field(
        default=None,
        description=(
            "Slug of the community one-to-one chats with this account belong to. Empty: one "
            "is created for the account. Group chats are communities of their own."
        ),
    )


class LineSettings(_Section):
    """The LINE bot (`townsquare run`). Without channels the LINE adapter is off."""

    channels: tuple[LineChannelSettings, ...] = Field(
        default=(),
        description=(
            'Official accounts, as a list: [{"key": "clinic", "secret": "...", '
            '"access_token": "..."}]. In TOML: [[line.channels]] tables.'
        ),
    )
    api_url: str = Field(default="https://api.line.me", description="LINE's Messaging API.")
    data_api_url: str = Field(
        default="https://api-data.line.me", description="LINE's API for message content."
    )
    max_body_bytes: int = Field(
        default=1_000_000,
        ge=1_000,
        le=50_000_000,
        description="Webhook bodies larger than this are refused (413) before parsing.",
    )
    workers: int = Field(
        default=8, ge=1, le=500, description="Chats whose events are processed at once."
    )
    max_attempts: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Failed attempts before an event is dead-lettered (kept, logged, skipped).",
    )
    retry_initial_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="First pause before an event is retried."
    )
    retry_max_seconds: float = Field(
        default=300.0, gt=0, le=86_400, description="Longest pause between retries."
    )
    push_fallback: bool = Field(
        default=True,
        description=(
            "When a reply token has expired or was used, send the answer as a push message "
            "(counts against the account's monthly quota)."
        ),
    )

    @field_validator("channels")
    @classmethod
    def _unique_keys(
        cls, value: tuple[LineChannelSettings, ...]
    ) -> tuple[LineChannelSettings, ...]:
        keys = [channel.key for channel in value]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"channel keys must be unique; repeated: {', '.join(repeated)}")
        return value


class PipelineSettings(_Section):
    """The ingest pipeline: queue, micro-batches, outage spool, retention."""

    queue_size: int = Field(
        default=20_000,
        ge=1,
        le=10_000_000,
        description="Events held in memory before ingest waits (back-pressure).",
    )
    batch_size: int = Field(
        default=5_000, ge=1, le=100_000, description="Most events committed in one transaction."
    )
    linger_ms: int = Field(
        default=50,
        ge=0,
        le=60_000,
        description="Longest wait for a batch to fill before it is written anyway.",
    )
    spool_dir: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("townsquare")) / "spool",
        description="Where batches wait (fsync'd) while PostgreSQL is unreachable.",
    )
    spool_max_mb: int = Field(
        default=512, ge=1, le=1_000_000, description="Spool size at which ingest refuses more."
    )
    max_future_seconds: int = Field(
        default=300,
        ge=0,
        le=86_400,
        description="Events dated further ahead than this are recorded but not rewarded.",
    )
    state_cache: int = Field(
        default=100_000,
        ge=0,
        le=10_000_000,
        description="Member states kept in memory by the writer (least recently used go).",
    )
    retention_days: int = Field(
        default=90, ge=1, le=36_500, description="Days of events kept in the event lake."
    )
    reconnect_max_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="Longest pause between attempts to reach PostgreSQL again during an outage.",
    )


class ConfigCacheSettings(_Section):
    """The live configuration cache: LISTEN/NOTIFY, its circuit breaker and the polling fallback."""

    listen: bool = Field(
        default=True,
        description=(
            "LISTEN for changes. Turn off behind a pooler that cannot LISTEN (PgBouncer in "
            "transaction mode): the cache then only polls, every poll_seconds."
        ),
    )
    reconnect_attempts: int = Field(
        default=5,
        ge=1,
        le=1000,
        description=(
            "Failed attempts to (re)connect the listener before the breaker opens and the "
            "cache polls instead."
        ),
    )
    backoff_initial_seconds: float = Field(
        default=0.2, gt=0, le=60, description="First pause between listener reconnect attempts."
    )
    backoff_max_seconds: float = Field(
        default=5.0, gt=0, le=600, description="Longest pause between reconnect attempts."
    )
    poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="While the breaker is open: how often config versions are polled.",
    )
    breaker_reset_seconds: float = Field(
        default=30.0,
        gt=0,
        le=86_400,
        description="While the breaker is open: how long before the listener is tried again.",
    )
    keepalive_seconds: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="The listener checks its connection when it has heard nothing this long.",
    )
    stop_timeout_seconds: float = Field(
        default=5.0, gt=0, le=300, description="Longest wait for the listener to stop."
    )


class Settings(BaseSettings):
    """Everything the process can be told from outside."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    embedded: EmbeddedSettings = Field(default_factory=EmbeddedSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    cache: ConfigCacheSettings = Field(default_factory=ConfigCacheSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)
    line: LineSettings = Field(default_factory=LineSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings from overrides, the environment and ``config_file``.

    Raises ``SettingsInvalid`` with one line per bad value, naming the setting, the value and
    what is allowed — the CLI prints it and exits 2.
    """
    settings_cls: type[Settings] = Settings
    if config_file is not None:
        _check_toml(config_file)
        settings_cls = type(
            "Settings",
            (Settings,),
            {"model_config": {**Settings.model_config, "toml_file": config_file}},
        )
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        raise SettingsInvalid(describe_validation_error(exc, config_file)) from None


def _check_toml(config_file: Path) -> None:
    try:
        with config_file.open("rb") as fh:
            tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsInvalid(f"Config file {config_file} does not exist.") from None
    except (PermissionError, IsADirectoryError) as exc:
        raise SettingsInvalid(
            f"Config file {config_file} cannot be read: {exc.strerror}."
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsInvalid(f"Config file {config_file} is not valid TOML: {exc}.") from None
    except UnicodeDecodeError:
        raise SettingsInvalid(f"Config file {config_file} is not UTF-8 text.") from None


def describe_validation_error(exc: ValidationError, config_file: Path | None = None) -> str:
    """Turn pydantic's errors into one readable line per setting."""
    lines = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        dotted = ".".join(loc)
        env_name = ENV_PREFIX + "_".join(loc).upper()
        where = f"{env_name}"
        if config_file is not None and len(loc) == 2:
            where += f" or [{loc[0]}] {loc[1]} in {config_file}"
        if error["type"] == "extra_forbidden":
            lines.append(f"Unknown setting {dotted} ({where}); check the spelling.")
            continue
        value = _mask(dotted, error.get("input"))
        allowed = error["msg"].removeprefix("Value error, ")
        lines.append(f"Invalid setting {dotted} ({where}): got {value!r}; {allowed}.")
    return "\n".join(lines)


def _mask(dotted: str, value: Any) -> Any:
    if dotted == "database.url" and isinstance(value, str):
        try:
            return make_url(value).render_as_string(hide_password=True)
        except ArgumentError:
            return "<unparseable URL>"
    return value
