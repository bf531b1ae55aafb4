"""Rich menu routes: create, upload the image (the data host's path), link, list, delete.

Why the rules about images: LINE refuses to link a rich menu whose image was never uploaded
and refuses a second upload, so a setup command that forgets a step or re-runs must meet
the same 400s here as in production.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from townsquare.fakes.line import ids, validation
from townsquare.fakes.line.ids import JSON
from townsquare.fakes.line.state import ChannelState, Content, LineWorld, RichMenus

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IMAGE_TYPES = ("image/jpeg", "image/png")
MAX_IMAGE_BYTES = 1024 * 1024
MAX_AREAS = 20


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"message": message}, status)


def rich_menu_errors(menu: Any) -> list[JSON]:
    """The documented limits of a rich menu object."""
    if not isinstance(menu, dict):
        return [validation.detail("May not be empty", "richMenu")]
    found: list[JSON] = []
    size = menu.get("size")
    if not isinstance(size, dict) or not all(
        isinstance(size.get(k), int) for k in ("width", "height")
    ):
        found.append(validation.detail("May not be empty", "size"))
    elif (
        not 800 <= size["width"] <= 2500
        or size["height"] < 250
        or size["width"] / size["height"] < 1.45
    ):
        found.append(validation.detail("Invalid rich menu size", "size"))
    if not isinstance(menu.get("selected"), bool):
        found.append(validation.detail("May not be empty", "selected"))
    for key, limit in (("name", 300), ("chatBarText", 14)):
        value = menu.get(key)
        if not isinstance(value, str) or not value:
            found.append(validation.detail("May not be empty", key))
        elif validation.utf16_length(value) > limit:
            found.append(validation.detail(f"Length must be between 0 and {limit}", key))
    areas = menu.get("areas")
    if not isinstance(areas, list) or len(areas) > MAX_AREAS:
        found.append(validation.detail(f"Size must be between 0 and {MAX_AREAS}", "areas"))
    return found


class RichMenuRoutes:
    def __init__(self, world: LineWorld, channel_of: Callable[[web.Request], ChannelState]) -> None:
        self._world = world
        self._channel_of = channel_of

    def routes(self) -> list[tuple[str, str, Handler]]:
        get, post, delete = "GET", "POST", "DELETE"
        # Order matters: literal segments ("list", "all") before the placeholders.
        return [
            (post, "/v2/bot/richmenu", self._create),
            (post, "/v2/bot/richmenu/validate", self._validate),
            (get, "/v2/bot/richmenu/list", self._list),
            (get, "/v2/bot/richmenu/{menu_id}", self._get),
            (delete, "/v2/bot/richmenu/{menu_id}", self._delete),
            (post, "/v2/bot/richmenu/{menu_id}/content", self._upload),
            (get, "/v2/bot/richmenu/{menu_id}/content", self._download),
            (post, "/v2/bot/user/all/richmenu/{menu_id}", self._set_default),
            (get, "/v2/bot/user/all/richmenu", self._get_default),
            (delete, "/v2/bot/user/all/richmenu", self._clear_default),
            (post, "/v2/bot/user/{user_id}/richmenu/{menu_id}", self._link),
            (get, "/v2/bot/user/{user_id}/richmenu", self._linked),
            (delete, "/v2/bot/user/{user_id}/richmenu", self._unlink),
        ]

    def _menus(self, request: web.Request) -> RichMenus:
        return self._channel_of(request).rich_menus

    @staticmethod
    async def _menu_json(request: web.Request) -> Any:
        raw = await request.read()
        try:
            return orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            return None

    async def _create(self, request: web.Request) -> web.Response:
        menu = await self._menu_json(request)
        details = rich_menu_errors(menu)
        if details:
            return _json(validation.body_errors(details), 400)
        menu_id = ids.rich_menu_id()
        with self._world.lock:
            self._menus(request).menus[menu_id] = {"richMenuId": menu_id, **menu}
        return _json({"richMenuId": menu_id})

    async def _validate(self, request: web.Request) -> web.Response:
        details = rich_menu_errors(await self._menu_json(request))
        return _json(validation.body_errors(details), 400) if details else _json({})

    async def _list(self, request: web.Request) -> web.Response:
        with self._world.lock:
            return _json({"richmenus": list(self._menus(request).menus.values())})

    async def _get(self, request: web.Request) -> web.Response:
        with self._world.lock:
            menu = self._menus(request).menus.get(request.match_info["menu_id"])
            return _error(404, "Not found") if menu is None else _json(menu)

    async def _delete(self, request: web.Request) -> web.Response:
        with self._world.lock:
            deleted = self._menus(request).delete(request.match_info["menu_id"])
        return _json({}) if deleted else _error(404, "Not found")

    async def _upload(self, request: web.Request) -> web.Response:
        menu_id = request.match_info["menu_id"]
        if request.content_type not in IMAGE_TYPES:
            return _error(415, f"The content type, '{request.content_type}', is not supported")
        data = await request.read()
        if not data:
            return _error(400, "The request body is empty")
        if len(data) > MAX_IMAGE_BYTES:
            return _error(413, "Payload Too Large")
        with self._world.lock:
            menus = self._menus(request)
            if menu_id not in menus.menus:
                return _error(404, "Not found")
            if menu_id in menus.images:
                return _error(400, "An image has already been uploaded to the richmenu")
            menus.images[menu_id] = Content(data, request.content_type)
        return _json({})

    async def _download(self, request: web.Request) -> web.Response:
        with self._world.lock:
            image = self._menus(request).images.get(request.match_info["menu_id"])
        if image is None:
            return _error(404, "Not found")
        return web.Response(body=image.data, content_type=image.content_type)

    def _linkable(self, menus: RichMenus, menu_id: str) -> web.Response | None:
        if menu_id not in menus.menus:
            return _error(404, "richmenu not found")
        if menu_id not in menus.images:
            return _error(400, "must upload richmenu image before applying it to user")
        return None

    async def _set_default(self, request: web.Request) -> web.Response:
        menu_id = request.match_info["menu_id"]
        with self._world.lock:
            menus = self._menus(request)
            refusal = self._linkable(menus, menu_id)
            if refusal is not None:
                return refusal
            menus.default_menu = menu_id
        return _json({})

    async def _get_default(self, request: web.Request) -> web.Response:
        with self._world.lock:
            menu_id = self._menus(request).default_menu
        if menu_id is None:
            return _error(404, "no default richmenu")
        return _json({"richMenuId": menu_id})

    async def _clear_default(self, request: web.Request) -> web.Response:
        with self._world.lock:
            self._menus(request).default_menu = None
        return _json({})

    async def _link(self, request: web.Request) -> web.Response:
        menu_id, user_id = request.match_info["menu_id"], request.match_info["user_id"]
        if not user_id.startswith("U") or not ids.is_chat_id(user_id):
            return _error(400, "The value for the 'userId' parameter is invalid")
        with self._world.lock:
            menus = self._menus(request)
            refusal = self._linkable(menus, menu_id)
            if refusal is not None:
                return refusal
            menus.per_user[user_id] = menu_id
        return _json({})

    async def _linked(self, request: web.Request) -> web.Response:
        with self._world.lock:
            menu_id = self._menus(request).per_user.get(request.match_info["user_id"])
        if menu_id is None:
            return _error(404, "the user has no richmenu")
        return _json({"richMenuId": menu_id})

    async def _unlink(self, request: web.Request) -> web.Response:
        with self._world.lock:
            self._menus(request).per_user.pop(request.match_info["user_id"], None)
        return _json({})
