"""Chat spaces becoming communities: bootstrap on first sight, channel sync, problems to fix."""

from townsquare.services.communities.schemas import ChannelInfo, ProblemOut, SpaceRef
from townsquare.services.communities.service import (
    ensure_community,
    list_problems,
    record_problem,
    remove_channel,
    resolve_problems,
    sync_channels,
    upsert_channel,
)

__all__ = [
    "ChannelInfo",
    "ProblemOut",
    "SpaceRef",
    "ensure_community",
    "list_problems",
    "record_problem",
    "remove_channel",
    "resolve_problems",
    "sync_channels",
    "upsert_channel",
]
