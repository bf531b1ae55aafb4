"""Typed errors raised by the rules engine, translated once at each edge."""

from __future__ import annotations


class EngineInputError(ValueError):
    """The caller passed an event or state the rules cannot interpret.

    This is a programming error in the pipeline or an adapter (for example a reaction event
    without the receiver's state), never a member's doing, so it is raised rather than
    turned into a zero reward.
    """
