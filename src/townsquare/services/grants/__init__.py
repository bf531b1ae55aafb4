"""Manual grants and revokes, recorded with their audit entry and applied by the relay."""

from townsquare.services.grants.schemas import (
    GrantAction,
    GrantInvalid,
    GrantOut,
    GrantPage,
    GrantRequest,
    GrantStatus,
)
from townsquare.services.grants.service import get_grant, list_grants, request_grant

__all__ = [
    "GrantAction",
    "GrantInvalid",
    "GrantOut",
    "GrantPage",
    "GrantRequest",
    "GrantStatus",
    "get_grant",
    "list_grants",
    "request_grant",
]
