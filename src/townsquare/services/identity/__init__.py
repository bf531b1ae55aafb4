"""Cross-platform identity: one-time codes that attach a LINE account to a Discord member
(or the other way round), so a member has one profile whichever app they use."""

from townsquare.services.identity.schemas import (
    AccountInUse,
    IssuedCode,
    LinkCodeInvalid,
    LinkedAccount,
    LinkRefused,
    MemberAlreadyLinked,
)
from townsquare.services.identity.service import (
    CODE_TTL,
    hash_code,
    issue_code,
    normalize_code,
    redeem_code,
)

__all__ = [
    "CODE_TTL",
    "AccountInUse",
    "IssuedCode",
    "LinkCodeInvalid",
    "LinkRefused",
    "LinkedAccount",
    "MemberAlreadyLinked",
    "hash_code",
    "issue_code",
    "normalize_code",
    "redeem_code",
]
