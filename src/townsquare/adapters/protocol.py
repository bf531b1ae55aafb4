"""What `townsquare run` needs from a platform adapter: start, stop, readiness, failure."""

from __future__ import annotations

from typing import Any, Protocol


class ChatAdapter(Protocol):
    """A platform adapter owned by the process that runs the pipeline."""

    name: str

    async def start(self) -> None:
        """Connect; raise a `TownsquareError` that says what to fix when it cannot."""

    async def stop(self, grace_seconds: float = 10.0) -> None:
        """Disconnect and end every task it started, within ``grace_seconds``."""

    def readiness(self) -> dict[str, Any]:
        """Figures for ``/ready``; ``status`` is ``ok`` when it is doing its work."""

    @property
    def failed(self) -> BaseException | None:
        """Why it stopped on its own, or None while it runs."""

    async def wait_stopped(self) -> None:
        """Return when the adapter has stopped (on its own or by `stop`)."""
