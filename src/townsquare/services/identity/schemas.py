"""What linking accounts across platforms returns, and the refusals a member can meet."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from townsquare.errors import TownsquareError


class IssuedCode(BaseModel):
    """A one-time code to type on ``platform``; only its hash is stored."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(repr=False, description="Shown to the member once, e.g. 'K7QD-M2XA'.")
    platform: str
    expires_at: datetime


class LinkedAccount(BaseModel):
    """A platform account now attached to a member (``already``: it was before)."""

    model_config = ConfigDict(frozen=True)

    community_id: int
    member_id: int
    platform: str
    external_user_id: str = Field(repr=False)
    already: bool = False


class LinkRefused(TownsquareError):
    """Linking cannot happen; the message is the whole answer to the member."""

    status = 409
    code = "link_refused"


class LinkCodeInvalid(LinkRefused):
    """No live code matches (mistyped, already used, expired or never issued)."""

    status = 404
    code = "link_code_invalid"


class AccountInUse(LinkRefused):
    """The account already belongs to another member of that community (it has activity
    of its own there); merging two members' balances is not supported."""

    code = "link_account_in_use"


class MemberAlreadyLinked(LinkRefused):
    """The member already has another account on that platform (one per platform)."""

    code = "link_member_already_linked"
