"""Discord's REST answers: JSON bodies, error codes and messages built from a request.

Why exact bodies: discord.py turns ``{"message", "code"}`` into ``HTTPException.code`` and
``.text``, and an adapter maps codes such as 50013 (Missing Permissions) or 10062 (Unknown
interaction) to behaviour; a fake with vaguer errors would test nothing.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from townsquare.fakes.discord import payloads
from townsquare.fakes.discord.calls import UploadedFile
from townsquare.fakes.discord.payloads import JSON

MAX_CONTENT_LENGTH = 2000
EPHEMERAL = 1 << 6
LOADING = 1 << 7

UNKNOWN_CHANNEL = (10003, "Unknown Channel")
UNKNOWN_GUILD = (10004, "Unknown Guild")
UNKNOWN_MEMBER = (10007, "Unknown Member")
UNKNOWN_MESSAGE = (10008, "Unknown Message")
UNKNOWN_ROLE = (10011, "Unknown Role")
UNKNOWN_USER = (10013, "Unknown User")
UNKNOWN_WEBHOOK = (10015, "Unknown Webhook")
UNKNOWN_INTERACTION = (10062, "Unknown interaction")
MISSING_ACCESS = (50001, "Missing Access")


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def no_content() -> web.Response:
    return web.Response(status=204)


def error(status: int, code: int, message: str) -> web.Response:
    return json_response({"message": message, "code": code}, status)


def not_found(known_error: tuple[int, str]) -> web.Response:
    return error(404, *known_error)


def invalid_form_body(errors: JSON) -> web.Response:
    return json_response({"message": "Invalid Form Body", "code": 50035, "errors": errors}, 400)


def _field_error(code: str, message: str) -> JSON:
    return {"_errors": [{"code": code, "message": message}]}


def too_long(body: JSON) -> web.Response | None:
    """Discord's answer to content over 2000 characters, else None."""
    if len(body.get("content") or "") > MAX_CONTENT_LENGTH:
        return invalid_form_body(
            {"content": _field_error("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")}
        )
    return None


def content_problem(body: JSON, files: tuple[UploadedFile, ...]) -> web.Response | None:
    """Discord's answer to a message it would refuse (too long or empty), else None."""
    too_long_answer = too_long(body)
    if too_long_answer is not None:
        return too_long_answer
    content = body.get("content") or ""
    carriers = ("embeds", "attachments", "sticker_ids", "components", "poll")
    if not content and not files and not any(body.get(key) for key in carriers):
        return error(400, 50006, "Cannot send an empty message")
    return None


def build_message(
    body: JSON,
    files: tuple[UploadedFile, ...],
    *,
    channel_id: int,
    author: JSON,
    guild_id: int | None,
    referenced: JSON | None = None,
    webhook_id: int | None = None,
) -> JSON:
    """The message Discord creates from a send-message body (JSON or ``payload_json``)."""
    attachments = [
        payloads.attachment(f.filename or f.field, size=f.size, content_type=f.content_type)
        for f in files
    ]
    created = payloads.message(
        channel_id,
        author,
        body.get("content") or "",
        guild_id=guild_id,
        attachments=attachments,
        embeds=body.get("embeds") or [],
        components=body.get("components") or [],
        referenced_message=referenced,
        flags=int(body.get("flags") or 0),
        webhook_id=webhook_id,
    )
    reference = body.get("message_reference")
    if reference and referenced is None:
        created["type"] = 19
        created["message_reference"] = {
            "type": 0,
            **{k: str(v) if k.endswith("_id") else v for k, v in reference.items()},
        }
        created["referenced_message"] = None
    if body.get("nonce") is not None:
        created["nonce"] = body["nonce"]
    if body.get("tts"):
        created["tts"] = True
    return created


def edited_message(existing: JSON, body: JSON, files: tuple[UploadedFile, ...]) -> JSON:
    """``existing`` after an edit: only the fields present in the body change."""
    updated = {**existing, "edited_timestamp": payloads.timestamp()}
    for key in ("content", "embeds", "components"):
        if key in body:
            updated[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
    if "flags" in body and body["flags"] is not None:
        updated["flags"] = int(body["flags"])
    updated["flags"] = int(updated.get("flags", 0)) & ~LOADING
    if "attachments" in body or files:
        kept_ids = {str(a.get("id")) for a in body.get("attachments") or []}
        kept = [a for a in existing.get("attachments", []) if a["id"] in kept_ids]
        uploaded = [
            payloads.attachment(f.filename or f.field, size=f.size, content_type=f.content_type)
            for f in files
        ]
        updated["attachments"] = kept + uploaded
    return updated


def guild_summary(guild: JSON) -> JSON:
    """``GET /guilds/{id}``: the guild without the gateway-only fields."""
    gateway_only = {
        "members",
        "channels",
        "threads",
        "voice_states",
        "presences",
        "stage_instances",
        "guild_scheduled_events",
        "soundboard_sounds",
        "embedded_activities",
        "joined_at",
        "large",
        "unavailable",
        "member_count",
        "lazy",
    }
    return {k: v for k, v in guild.items() if k not in gateway_only}
