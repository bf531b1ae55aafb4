"""What every command shares: settings loading, signal handling, error printing."""

from __future__ import annotations

import getpass
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.text import Text

from townsquare.config.settings import Settings, load_settings
from townsquare.log import configure_logging
from townsquare.services.audit import Actor, ActorType

err_console = Console(stderr=True)
out_console = Console()


class ShutdownRequested(BaseException):
    """SIGTERM arrived: unwind (running every ``finally``) and exit 0.

    A BaseException, like KeyboardInterrupt, so no ``except Exception`` swallows it.
    """


@dataclass
class CliState:
    config_file: Path | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_file)
            configure_logging(self._settings.log.level, self._settings.log.format)
        return self._settings


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def print_error(message: str) -> None:
    err_console.print(Text("Error: ", style="bold red") + Text(message))


@contextmanager
def sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into ``ShutdownRequested`` in the main thread for the block's duration,
    so a stop requested during startup still stops what was already started."""

    def _handler(_signum: int, _frame: FrameType | None) -> None:
        raise ShutdownRequested

    previous = signal.signal(signal.SIGTERM, _handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def cli_actor() -> Actor:
    """How the audit log names whoever runs a command: their login name."""
    try:
        who = getpass.getuser()[:128] or "cli"
    except (KeyError, OSError):
        who = "cli"
    return Actor(type=ActorType.CLI, id=who)
