"""Item edits of the multipliers section: channel rules, channel-type defaults, role
multipliers and how they combine, and the channels and roles that earn nothing.

Each route builds one edit of `townsquare.services.community_config.edits` and runs it;
the item's key is in the path, so PUT is "create or replace" and DELETE "remove". Values
are checked by validating the whole resulting document (ranges, duplicates, unknown
channels), so errors come back with their location in the document, as for whole-section
edits. Every change quotes the multipliers section's version.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Query, Response
from pydantic import Field

from townsquare.api.deps import Session
from townsquare.api.routes.admin.common import (
    CHANGE_ERRORS,
    TEXT,
    ChangeBody,
    Configurer,
    IfMatch,
    RemovalPrecondition,
    example,
    expected_version,
    run_edit,
)
from townsquare.core import ChannelType, EventKind
from townsquare.core.economy_config import RoleCombine
from townsquare.services.community_config import ConfigSectionOut, edits

router = APIRouter(prefix="/config", tags=["admin: configuration items"])

_EXAMPLE = example(
    {
        "community_id": 1,
        "config_version": 8,
        "section": "multipliers",
        "section_version": 4,
        "value": {
            "channel_rules": [{"target_id": "100", "kind": "message", "multiplier": 1.5}],
            "channel_type_defaults": [],
            "role_multipliers": {"42": 1.2},
            "role_combine": "max",
            "no_reward_channels": ["300"],
            "no_reward_roles": [],
        },
    }
)
_RESPONSES = {**CHANGE_ERRORS, **_EXAMPLE}
KindQuery = Annotated[
    EventKind | None,
    Query(description="The event kind the rule is for; omit for the all-kinds rule."),
]
ChannelId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=TEXT, description="Platform channel id.")
]
RoleId = Annotated[
    str, Path(min_length=1, max_length=64, pattern=TEXT, description="Platform role id.")
]


class MultiplierBody(ChangeBody):
    multiplier: float = Field(
        description="0 to 100; 1 is neutral, 0 earns nothing.", examples=[1.5]
    )


class RoleCombineBody(ChangeBody):
    mode: RoleCombine = Field(description="The highest role multiplier, or their product.")


_MULTIPLIER_EXAMPLES = {
    "boost": {"value": {"multiplier": 1.5, "expected_version": 3, "reason": "events channel"}}
}
MultiplierChange = Annotated[MultiplierBody, Body(openapi_examples=_MULTIPLIER_EXAMPLES)]
Change = Annotated[ChangeBody, Body(openapi_examples={"add": {"value": {"expected_version": 3}}})]


@router.put(
    "/channel-rules/{target_id}",
    response_model=ConfigSectionOut,
    summary="Set the multiplier of a channel, thread parent or category",
    responses=_RESPONSES,
)
async def put_channel_rule(
    community_id: int,
    target_id: ChannelId,
    body: MultiplierChange,
    session: Session,
    actor: Configurer,
    response: Response,
    kind: KindQuery = None,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    rule = {"target_id": target_id, "kind": kind, "multiplier": body.multiplier}
    version = expected_version(body.expected_version, if_match)
    edit = edits.put_channel_rule(rule)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/channel-rules/{target_id}",
    response_model=ConfigSectionOut,
    summary="Remove a channel rule",
    responses=_RESPONSES,
)
async def delete_channel_rule(
    community_id: int,
    target_id: ChannelId,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
    kind: KindQuery = None,
) -> ConfigSectionOut:
    edit = edits.delete_channel_rule(target_id, kind)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.put(
    "/channel-type-defaults/{channel_type}",
    response_model=ConfigSectionOut,
    summary="Set the multiplier of every channel of a type",
    responses=_RESPONSES,
)
async def put_channel_type_default(
    community_id: int,
    channel_type: ChannelType,
    body: MultiplierChange,
    session: Session,
    actor: Configurer,
    response: Response,
    kind: KindQuery = None,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    default = {"channel_type": channel_type, "kind": kind, "multiplier": body.multiplier}
    version = expected_version(body.expected_version, if_match)
    edit = edits.put_channel_type_default(default)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/channel-type-defaults/{channel_type}",
    response_model=ConfigSectionOut,
    summary="Remove a channel-type default",
    responses=_RESPONSES,
)
async def delete_channel_type_default(
    community_id: int,
    channel_type: ChannelType,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
    kind: KindQuery = None,
) -> ConfigSectionOut:
    edit = edits.delete_channel_type_default(channel_type, kind)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.put(
    "/role-multipliers/{role_id}",
    response_model=ConfigSectionOut,
    summary="Set the multiplier of a role",
    responses=_RESPONSES,
)
async def put_role_multiplier(
    community_id: int,
    role_id: RoleId,
    body: MultiplierChange,
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    version = expected_version(body.expected_version, if_match)
    edit = edits.put_role_multiplier(role_id, body.multiplier)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/role-multipliers/{role_id}",
    response_model=ConfigSectionOut,
    summary="Remove a role's multiplier (the role then counts as 1x)",
    responses=_RESPONSES,
)
async def delete_role_multiplier(
    community_id: int,
    role_id: RoleId,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.delete_role_multiplier(role_id)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.put(
    "/role-combine",
    response_model=ConfigSectionOut,
    summary="Choose how a member's several role multipliers combine",
    responses=_RESPONSES,
)
async def put_role_combine(
    community_id: int,
    body: Annotated[
        RoleCombineBody,
        Body(openapi_examples={"product": {"value": {"mode": "product", "expected_version": 3}}}),
    ],
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    version = expected_version(body.expected_version, if_match)
    edit = edits.set_role_combine(body.mode)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.put(
    "/no-reward-channels/{channel_id}",
    response_model=ConfigSectionOut,
    summary="Make a channel earn nothing",
    responses=_RESPONSES,
)
async def add_no_reward_channel(
    community_id: int,
    channel_id: ChannelId,
    body: Change,
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    version = expected_version(body.expected_version, if_match)
    edit = edits.add_no_reward_channel(channel_id)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/no-reward-channels/{channel_id}",
    response_model=ConfigSectionOut,
    summary="Let a no-reward channel earn again",
    responses=_RESPONSES,
)
async def remove_no_reward_channel(
    community_id: int,
    channel_id: ChannelId,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.remove_no_reward_channel(channel_id)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )


@router.put(
    "/no-reward-roles/{role_id}",
    response_model=ConfigSectionOut,
    summary="Make members with a role earn nothing",
    responses=_RESPONSES,
)
async def add_no_reward_role(
    community_id: int,
    role_id: RoleId,
    body: Change,
    session: Session,
    actor: Configurer,
    response: Response,
    if_match: IfMatch = None,
) -> ConfigSectionOut:
    version = expected_version(body.expected_version, if_match)
    edit = edits.add_no_reward_role(role_id)
    return await run_edit(session, actor, community_id, edit, version, body.reason, response)


@router.delete(
    "/no-reward-roles/{role_id}",
    response_model=ConfigSectionOut,
    summary="Let members with a role earn again",
    responses=_RESPONSES,
)
async def remove_no_reward_role(
    community_id: int,
    role_id: RoleId,
    session: Session,
    actor: Configurer,
    response: Response,
    precondition: RemovalPrecondition,
) -> ConfigSectionOut:
    edit = edits.remove_no_reward_role(role_id)
    return await run_edit(
        session, actor, community_id, edit, precondition.version(), precondition.reason, response
    )
