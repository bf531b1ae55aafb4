"""Roles, permissions and the authenticated `Principal` every admin route checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from townsquare.services.audit import Actor, ActorType


class Role(StrEnum):
    """What a person may do in one community, from least to most."""

    VIEWER = "viewer"
    MODERATOR = "moderator"
    ADMIN = "admin"
    OWNER = "owner"


class Permission(StrEnum):
    """What a route needs. Roles bundle them; API tokens carry an explicit subset."""

    READ = "read"  # admin views: configuration, audit log, event lake, grants
    GRANT = "grant"  # manual awards and revokes
    CONFIGURE = "configure"  # configuration edits, retention/reconcile/backfill runs
    MANAGE_ACCESS = "manage_access"  # roles and API tokens


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.MODERATOR: frozenset({Permission.READ, Permission.GRANT}),
    Role.ADMIN: frozenset({Permission.READ, Permission.GRANT, Permission.CONFIGURE}),
    Role.OWNER: frozenset(Permission),
}
#: API tokens automate; they never hand out access (no token can mint tokens or roles).
TOKEN_PERMISSIONS = frozenset({Permission.READ, Permission.GRANT, Permission.CONFIGURE})


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a signed-in user (with roles per community) or an API token."""

    user_id: int | None = None
    display_name: str = ""
    is_instance_admin: bool = False
    roles: dict[int, Role] = field(default_factory=dict)
    token_id: int | None = None
    token_community_id: int | None = None
    token_permissions: frozenset[Permission] = frozenset()
    session_provider: str | None = None
    # When the provider's roles were last read (the API re-checks Discord roles when old).
    session_refreshed_at: datetime | None = None
    csrf_token: str | None = None

    def permissions(self, community_id: int) -> frozenset[Permission]:
        """What this caller may do in ``community_id``."""
        if self.token_id is not None:
            return (
                self.token_permissions if community_id == self.token_community_id else frozenset()
            )
        if self.is_instance_admin:
            return frozenset(Permission)
        role = self.roles.get(community_id)
        return ROLE_PERMISSIONS[role] if role is not None else frozenset()

    def can(self, community_id: int, permission: Permission) -> bool:
        return permission in self.permissions(community_id)

    def actor(self, source_ip: str | None = None) -> Actor:
        """How the audit log names this caller."""
        if self.token_id is not None:
            return Actor(type=ActorType.API_TOKEN, id=str(self.token_id), source_ip=source_ip)
        return Actor(type=ActorType.USER, id=str(self.user_id), source_ip=source_ip)


class UserOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    display_name: str
    is_instance_admin: bool
    roles: dict[int, Role]


class SessionOut(BaseModel):
    """A signed-in browser, as its owner sees it in the session list."""

    model_config = ConfigDict(frozen=True)

    id: str  # hex of the first 8 bytes of the id's hash: enough to name it, useless to steal
    provider: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str | None
    current: bool = False


class ApiTokenOut(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    community_id: int
    name: str
    prefix: str
    permissions: list[Permission]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiToken(BaseModel):
    """Returned once, at creation: the only time the plaintext token exists."""

    model_config = ConfigDict(frozen=True)

    token: str
    details: ApiTokenOut
