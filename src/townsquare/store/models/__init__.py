"""The schema as SQLAlchemy 2 models — the Alembic migrations are checked against these.

Every table is keyed by ``community_id`` first, so a distributed PostgreSQL (Citus) can
shard by community; ids are BIGINT identities everywhere (the predecessor overflowed a
32-bit serial). Repositories query these; services never hand ORM rows to callers.
"""

from townsquare.store.models.accounts import (
    ApiToken,
    AuthSession,
    CommunityRole,
    User,
    UserIdentity,
)
from townsquare.store.models.achievements import AchievementAward
from townsquare.store.models.activity import (
    Balance,
    BalanceCount,
    Counter,
    CounterRollup,
    Event,
    LedgerEntry,
    LevelUp,
    MemberState,
)
from townsquare.store.models.audit import AuditEntry
from townsquare.store.models.base import Base
from townsquare.store.models.community import (
    Channel,
    Community,
    CommunityLink,
    CommunitySettings,
    Member,
    MemberIdentity,
)
from townsquare.store.models.conversation import ConversationSession, WebhookInboxItem
from townsquare.store.models.grants import ManualGrant
from townsquare.store.models.identity import LinkCode
from townsquare.store.models.platform import CommunityProblem, MemberPreference, VoiceSession

__all__ = [
    "AchievementAward",
    "ApiToken",
    "AuditEntry",
    "AuthSession",
    "Balance",
    "BalanceCount",
    "Base",
    "Channel",
    "Community",
    "CommunityLink",
    "CommunityProblem",
    "CommunityRole",
    "CommunitySettings",
    "ConversationSession",
    "Counter",
    "CounterRollup",
    "Event",
    "LedgerEntry",
    "LevelUp",
    "LinkCode",
    "ManualGrant",
    "Member",
    "MemberIdentity",
    "MemberPreference",
    "MemberState",
    "User",
    "UserIdentity",
    "VoiceSession",
    "WebhookInboxItem",
]
