"""The rich menu: four buttons under the chat (Rank, Leaderboard, Profile, Help).

`install_rich_menu` does LINE's three steps — create the menu, upload its image (to the
data API host), make it every user's default — and then deletes the menus an earlier run
made, so running it again replaces the menu instead of piling up new ones. LINE refuses to
link a menu whose image was not uploaded, so a failure part-way leaves the previous default
in place; the half-made menu is deleted.

The image is drawn with Pillow (no asset files to ship): four panels with a label each.
Each area sends a postback the command router understands (``action=rank`` …).
"""

from __future__ import annotations

import io
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson
import structlog
from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    AsyncMessagingApiBlob,
    Configuration,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from PIL import Image, ImageDraw, ImageFont

from townsquare.config.settings import LineChannelSettings, LineSettings
from townsquare.errors import TownsquareError
from townsquare.services.conversations import encode_postback

log = structlog.get_logger(__name__)

WIDTH: Final = 2500
HEIGHT: Final = 843
MENU_NAME: Final = "Townsquare"
CHAT_BAR_TEXT: Final = "Menu"
#: (label, postback action, panel colour)
AREAS: Final = (
    ("Rank", "rank", (6, 199, 85)),
    ("Leaderboard", "leaderboard", (0, 150, 136)),
    ("Profile", "profile", (33, 150, 243)),
    ("Help", "help", (96, 125, 139)),
)
_TIMEOUT: Final = 15.0


class RichMenuFailed(TownsquareError):
    """LINE refused a step of the rich menu setup (or could not be reached)."""

    code = "line_rich_menu_failed"


@dataclass(frozen=True, slots=True)
class InstalledMenu:
    menu_id: str
    image_bytes: int
    replaced: tuple[str, ...]


def menu_request() -> RichMenuRequest:
    """Four equal areas across a compact (2500 x 843) menu."""
    width = WIDTH // len(AREAS)
    areas = [
        RichMenuArea(
            bounds=RichMenuBounds(x=i * width, y=0, width=width, height=HEIGHT),
            action=PostbackAction(label=label, data=encode_postback(action), display_text=label),
        )
        for i, (label, action, _colour) in enumerate(AREAS)
    ]
    return RichMenuRequest(
        size=RichMenuSize(width=WIDTH, height=HEIGHT),
        selected=True,
        name=MENU_NAME,
        chat_bar_text=CHAT_BAR_TEXT,
        areas=areas,
    )


def render_menu_image() -> bytes:
    """The menu's PNG: one coloured panel per area with its label, centred."""
    image = Image.new("RGB", (WIDTH, HEIGHT), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=120)
    width = WIDTH // len(AREAS)
    for i, (label, _action, colour) in enumerate(AREAS):
        left = i * width
        draw.rectangle((left + 8, 8, left + width - 8, HEIGHT - 8), fill=colour)
        box = draw.textbbox((0, 0), label, font=font)
        x = left + (width - (box[2] - box[0])) // 2
        y = (HEIGHT - (box[3] - box[1])) // 2
        draw.text((x, y), label, fill=(255, 255, 255), font=font)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def channel_settings(settings: LineSettings, key: str) -> LineChannelSettings:
    for channel in settings.channels:
        if channel.key == key:
            return channel
    known = ", ".join(c.key for c in settings.channels) or "none configured"
    raise RichMenuFailed(f"No LINE channel {key!r} in line.channels (known: {known}).")


async def install_rich_menu(
    settings: LineSettings, channel_key: str, *, replace: bool = True
) -> InstalledMenu:
    """Create, illustrate and set the default rich menu of one channel."""
    channel = channel_settings(settings, channel_key)
    token = channel.access_token.get_secret_value()
    png = render_menu_image()
    async with (
        AsyncApiClient(Configuration(host=settings.api_url, access_token=token)) as client,
        AsyncApiClient(Configuration(host=settings.data_api_url, access_token=token)) as data,
    ):
        api, blob = AsyncMessagingApi(client), AsyncMessagingApiBlob(data)
        earlier = await _step(
            "list the rich menus", api.get_rich_menu_list(_request_timeout=_TIMEOUT)
        )
        created = await _step(
            "create the rich menu", api.create_rich_menu(menu_request(), _request_timeout=_TIMEOUT)
        )
        menu_id = str(created.rich_menu_id)
        try:
            await _step(
                "upload the rich menu image",
                blob.set_rich_menu_image(
                    menu_id, png, _headers={"Content-Type": "image/png"}, _request_timeout=_TIMEOUT
                ),
            )
            await _step(
                "make the rich menu the default",
                api.set_default_rich_menu(menu_id, _request_timeout=_TIMEOUT),
            )
        except RichMenuFailed:
            await _quietly_delete(api, menu_id)
            raise
        replaced: list[str] = []
        if replace:
            for menu in earlier.richmenus or ():
                if menu.name == MENU_NAME and menu.rich_menu_id != menu_id:
                    await _step(
                        "delete an earlier rich menu", api.delete_rich_menu(menu.rich_menu_id)
                    )
                    replaced.append(str(menu.rich_menu_id))
    log.info("line_rich_menu_installed", channel=channel_key, menu=menu_id, replaced=len(replaced))
    return InstalledMenu(menu_id=menu_id, image_bytes=len(png), replaced=tuple(replaced))


async def _step(what: str, call: Awaitable[Any]) -> Any:
    try:
        return await call
    except ApiException as exc:
        raise RichMenuFailed(
            f"LINE refused to {what} (HTTP {exc.status}: {_message(exc)})."
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RichMenuFailed(f"Could not reach LINE to {what} ({type(exc).__name__}).") from None


async def _quietly_delete(api: AsyncMessagingApi, menu_id: str) -> None:
    try:
        await api.delete_rich_menu(menu_id, _request_timeout=_TIMEOUT)
    except (ApiException, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("line_rich_menu_cleanup_failed", menu=menu_id, error=type(exc).__name__)


def _message(exc: ApiException) -> str:
    try:
        body = orjson.loads(exc.body or b"{}")
    except orjson.JSONDecodeError:
        return exc.reason or "no details"
    return str(body.get("message") or exc.reason or "no details")
