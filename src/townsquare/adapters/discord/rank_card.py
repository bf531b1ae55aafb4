"""The `/rank` card: a member's level, progress, rank and balances drawn as a PNG.

``render_rank_card`` is a pure function of a ``RankCard`` (no I/O but reading system fonts
once, no clock, no globals mutated), so the cog can run it in a thread executor and tests
can call it directly. Everything it draws comes from outside — a display name any member
chose, avatar bytes any server sent, numbers a bug could make negative — so it never
raises on odd input: numbers are clamped or abbreviated, names are cleaned and truncated,
and an avatar Pillow cannot (or should not) decode becomes an initials circle.

Fonts: DejaVu or Noto from ``/usr/share/fonts`` when installed (wide script coverage),
otherwise Pillow's built-in Aileron (``ImageFont.load_default(size=...)``, Latin only).
Fonts are cached per process; sharing them between executor threads is safe under the
GIL, and Pillow locks each font in free-threaded builds.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass, replace
from typing import Literal

import structlog
from PIL import Image, ImageChops, ImageDraw, ImageOps

from townsquare.adapters.discord.rank_card_text import (
    drawable_name,
    font_for,
    has_glyph,
    initials_of,
    installed_faces,
    truncate_to_width,
)

log = structlog.get_logger(__name__)

Rgb = tuple[int, int, int]

CARD_SIZE = (934, 282)
"""The common rank-card size (MEE6, Arcane): Discord shows it uncropped in an embed."""
AVATAR_BOX = (43, 43, 239, 239)
"""Where the avatar circle sits (left, top, right, bottom); tests sample its centre."""
PROGRESS_BAR_BOX = (280, 178, 894, 218)
"""Where the progress bar sits (left, top, right, bottom); tests sample its fill."""
MAX_AVATAR_SIDE = 4096
"""Larger avatars are refused before their pixels are decoded (decompression bombs)."""

_BODY: Rgb = (35, 36, 40)
_TRACK: Rgb = (70, 72, 80)
_TEXT: Rgb = (242, 243, 245)
_MUTED: Rgb = (181, 186, 193)
_STAR: Rgb = (250, 204, 21)
_GOLD: Rgb = (245, 158, 11)
_CORNER_RADIUS = 28
_SUPERSAMPLE = 4  # shapes are drawn 4x larger and reduced: antialiased edges
_CONTENT_LEFT, _CONTENT_RIGHT = PROGRESS_BAR_BOX[0], PROGRESS_BAR_BOX[2]
_SHRINK_STEPS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
_ICON_LIFT = 9  # half the cap height of 24 px digits


@dataclass(frozen=True, slots=True)
class RankCard:
    """What the card shows; the cog builds it from the ranks service's DTO and the member."""

    display_name: str
    level: int
    xp_into_level: int
    xp_for_next_level: int | None  # None at the max level: the bar is full and says "MAX"
    total_xp: int
    rank: int | None  # 1-based leaderboard rank; None if unranked
    members_ranked: int | None
    stars: int
    gold: int
    avatar_png: bytes | None = None  # any format Pillow reads; unreadable -> initials
    accent: Rgb = (88, 101, 242)


def render_rank_card(card: RankCard) -> bytes:
    """PNG bytes, 934x282 (the common rank-card size)."""
    accent = _readable_accent(card.accent)
    image = Image.new("RGBA", CARD_SIZE, (*_BODY, 255))
    image.putalpha(_mask("rounded", *CARD_SIZE, radius=_CORNER_RADIUS))  # corners for any theme
    draw = ImageDraw.Draw(image)

    name_face, name = drawable_name(card.display_name)
    _draw_avatar(image, card.avatar_png, name, name_face, accent)
    _draw_rank_and_level(image, draw, card, accent)
    fraction, xp_pieces = _progress(card, accent)
    xp_width = _draw_row(image, draw, xp_pieces, right=_CONTENT_RIGHT, baseline=162)
    name_width = _CONTENT_RIGHT - _CONTENT_LEFT - xp_width - 24
    _draw_name(image, name, name_face, left=_CONTENT_LEFT, baseline=162, max_width=name_width)
    _draw_progress_bar(image, fraction, accent)
    stats = [
        _Piece("", 24, color=_STAR, icon="star", space_after=8),
        _Piece(_count(card.stars), 24, bold=True, space_after=6),
        _Piece("star" if card.stars == 1 else "stars", 22, color=_MUTED, space_after=28),
        _Piece("", 22, color=_GOLD, icon="coin", space_after=8),
        _Piece(_count(card.gold), 24, bold=True, space_after=6),
        _Piece("gold", 22, color=_MUTED),
    ]
    stats_width = _draw_row(image, draw, stats, left=_CONTENT_LEFT, baseline=256)
    total = [
        _Piece("TOTAL", 18, color=_MUTED, space_after=8),
        _Piece(f"{_count(card.total_xp)} XP", 24, bold=True),
    ]
    _draw_row(
        image,
        draw,
        total,
        right=_CONTENT_RIGHT,
        baseline=256,
        max_width=_CONTENT_RIGHT - _CONTENT_LEFT - stats_width - 24,
    )

    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)  # 6 ms less per card for 10 % more bytes
    return out.getvalue()


# --- numbers ---------------------------------------------------------------------------


def _count(value: int) -> str:
    """1,234 below a million, then 1.2M / 3.4B / 5.6T, then 7.8e21: always a short label."""
    sign, n = ("-" if value < 0 else ""), abs(int(value))
    if n < 1_000_000:
        return f"{sign}{n:,}"
    for exponent, suffix in ((6, "M"), (9, "B"), (12, "T")):
        tenths = (n * 10 + 10**exponent // 2) // 10**exponent  # integer maths: no float overflow
        if tenths < 10_000:
            return f"{sign}{tenths // 10}{'.' + str(tenths % 10) if tenths % 10 else ''}{suffix}"
    exponent = int(math.log10(n))  # math.log10 takes ints of any size
    exponent -= 10**exponent > n  # float rounding just below a power of ten
    tenths = (n * 10 + 10**exponent // 2) // 10**exponent
    if tenths >= 100:
        exponent, tenths = exponent + 1, tenths // 10
    return f"{sign}{tenths // 10}.{tenths % 10}e{exponent}"


def _progress(card: RankCard, accent: Rgb) -> tuple[float, list[_Piece]]:
    """The bar's fill fraction and the XP label; clamped, because a bar can't be -20 % full."""
    need = card.xp_for_next_level
    if need is None:
        return 1.0, [_Piece("MAX", 26, bold=True, color=accent)]
    need = max(need, 0)
    into = min(max(card.xp_into_level, 0), need)
    fraction = into / need if need else 1.0
    return fraction, [
        _Piece(_count(into), 24, bold=True, space_after=6),
        _Piece(f"/ {_count(need)} XP", 22, color=_MUTED),
    ]


# --- colour ----------------------------------------------------------------------------


def _luminance(rgb: Rgb) -> float:
    def channel(c: int) -> float:
        c_ = c / 255
        return c_ / 12.92 if c_ <= 0.03928 else ((c_ + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _contrast(a: Rgb, b: Rgb) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _readable_accent(accent: Rgb) -> Rgb:
    """The community's colour, lightened until it stands out on the dark body (WCAG 3:1)."""
    colour: Rgb = (_channel(accent[0]), _channel(accent[1]), _channel(accent[2]))
    for step in range(11):
        mixed = _mix(colour, (255, 255, 255), step / 10)
        if _contrast(mixed, _BODY) >= 3.0:
            return mixed
    return (255, 255, 255)


def _channel(value: int) -> int:
    return max(0, min(255, int(value)))


def _mix(a: Rgb, b: Rgb, t: float) -> Rgb:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _ink_on(background: Rgb) -> Rgb:
    return (
        (20, 20, 24)
        if _contrast(background, (20, 20, 24)) > _contrast(background, _TEXT)
        else _TEXT
    )


# --- drawing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """One run of a text row: its own size, weight and colour, or an icon of ``size``."""

    text: str
    size: int
    bold: bool = False
    color: Rgb = _TEXT
    space_after: int = 0
    icon: Literal["star", "coin"] | None = None


@functools.lru_cache(maxsize=64)
def _mask(
    shape: Literal["rounded", "ellipse", "star"], width: int, height: int, radius: int = 0
) -> Image.Image:
    """An antialiased shape mask: drawn ``_SUPERSAMPLE`` times larger, then reduced.

    Cached because the geometry is fixed; it is shared between calls and threads, so
    callers only read it (Image.paste reads its mask) or copy it first.
    """
    s = _SUPERSAMPLE
    big = Image.new("L", (width * s, height * s), 0)
    draw = ImageDraw.Draw(big)
    box = (0, 0, width * s - 1, height * s - 1)
    if shape == "rounded":
        draw.rounded_rectangle(box, radius=radius * s, fill=255)
    elif shape == "ellipse":
        draw.ellipse(box, fill=255)
    else:
        outer, inner, centre = width * s / 2, width * s / 4.6, width * s / 2
        draw.polygon(
            [
                (
                    centre + (outer if i % 2 == 0 else inner) * math.sin(i * math.pi / 5),
                    centre - (outer if i % 2 == 0 else inner) * math.cos(i * math.pi / 5),
                )
                for i in range(10)
            ],
            fill=255,
        )
    return big.reduce(s)


def _piece_width(piece: _Piece, scale: float) -> float:
    size = max(1, round(piece.size * scale))
    if piece.icon:
        return size
    return font_for(installed_faces(piece.bold)[0], size).getlength(piece.text)


def _draw_row(
    image: Image.Image,
    draw: ImageDraw.ImageDraw,
    pieces: list[_Piece],
    *,
    baseline: int,
    left: float | None = None,
    right: float | None = None,
    max_width: float = _CONTENT_RIGHT - _CONTENT_LEFT,
) -> int:
    """Draws pieces on one baseline from ``left`` (or ending at ``right``); returns the width.

    Shrinks the whole row until it fits ``max_width``, so a ten-digit balance squeezes the
    row instead of running into its neighbour.
    """
    for scale in _SHRINK_STEPS:
        widths = [_piece_width(piece, scale) + piece.space_after * scale for piece in pieces]
        if sum(widths) <= max_width:
            break
    x = left if left is not None else (right or 0) - sum(widths)
    for piece, width in zip(pieces, widths, strict=True):
        size = max(1, round(piece.size * scale))
        if piece.icon:
            middle = baseline - _ICON_LIFT * scale  # level with the digits' mid-height
            _draw_icon(image, piece.icon, round(x), round(middle - size / 2), size, piece.color)
        else:
            font = font_for(installed_faces(piece.bold)[0], size)
            draw.text((x, baseline), piece.text, font=font, fill=piece.color, anchor="ls")
        x += width
    return math.ceil(sum(widths))


def _draw_icon(
    image: Image.Image, icon: Literal["star", "coin"], x: int, y: int, size: int, color: Rgb
) -> None:
    image.paste(color, (x, y), _mask("star" if icon == "star" else "ellipse", size, size))
    if icon == "coin":
        ring = max(2, size // 5)
        face = _mask("ellipse", size - 2 * ring, size - 2 * ring)
        image.paste(_mix(color, (255, 255, 255), 0.35), (x + ring, y + ring), face)


def _draw_rank_and_level(
    image: Image.Image, draw: ImageDraw.ImageDraw, card: RankCard, accent: Rgb
) -> None:
    pieces: list[_Piece] = []
    if card.rank is not None and card.rank >= 1:
        pieces += [
            _Piece("RANK", 22, color=_MUTED, space_after=10),
            _Piece(f"#{_count(card.rank)}", 48, bold=True, space_after=10),
        ]
        if card.members_ranked is not None and card.members_ranked >= 1:
            pieces.append(_Piece(f"of {_count(card.members_ranked)}", 22, color=_MUTED))
    else:
        pieces.append(_Piece("UNRANKED", 22, color=_MUTED))
    pieces[-1] = replace(pieces[-1], space_after=36)
    pieces += [
        _Piece("LEVEL", 22, color=_MUTED, space_after=10),  # small text needs 4.5:1
        _Piece(_count(card.level), 48, bold=True, color=accent),
    ]
    _draw_row(image, draw, pieces, right=_CONTENT_RIGHT, baseline=86)


def _draw_name(
    image: Image.Image, name: str, face: str | None, *, left: int, baseline: int, max_width: int
) -> None:
    """The name in its own clipped layer: stacked accents (Zalgo) cannot spill onto the bar."""
    if not name or max_width <= 0:
        return
    font = font_for(face, 36)
    ellipsis = "…" if has_glyph(face, "…") else "..."
    text = truncate_to_width(name, font, max_width, ellipsis)
    pad, top = 6, baseline - 44  # room for a left overhang and for ascenders above the baseline
    layer = Image.new("L", (max_width + pad, 56), 0)
    ImageDraw.Draw(layer).text((pad, baseline - top), text, font=font, fill=255, anchor="ls")
    image.paste(_TEXT, (left - pad, top), layer)


def _draw_progress_bar(image: Image.Image, fraction: float, accent: Rgb) -> None:
    left, top, right, bottom = PROGRESS_BAR_BOX
    width, height = right - left, bottom - top
    track = _mask("rounded", width, height, radius=height // 2)
    image.paste(_TRACK, (left, top), track)
    filled = round(max(0.0, min(1.0, fraction)) * width)
    if filled:
        fill = track.copy()
        fill.paste(0, (filled, 0, width, height))  # the track's rounded shape, cut at the fraction
        image.paste(accent, (left, top), fill)


def _draw_avatar(
    image: Image.Image, avatar: bytes | None, name: str, face: str | None, accent: Rgb
) -> None:
    left, top, right, _ = AVATAR_BOX
    diameter = right - left
    ring = 6
    outline = _mask("ellipse", diameter + 2 * ring, diameter + 2 * ring)
    image.paste(accent, (left - ring, top - ring), outline)
    circle = _mask("ellipse", diameter, diameter)
    image.paste(_BODY, (left, top), circle)  # behind transparent avatar pixels
    picture = _decode_avatar(avatar, diameter)
    if picture is not None:
        mask = ImageChops.multiply(picture.getchannel("A"), circle)  # round and see-through
        image.paste(picture.convert("RGB"), (left, top), mask)
        return
    background = _mix(accent, _BODY, 0.35)
    image.paste(background, (left, top), circle)
    initials = initials_of(name, face)  # the name is already reduced to what ``face`` can draw
    font = font_for(face, 84 if len(initials) == 1 else 72)
    ImageDraw.Draw(image).text(
        ((left + right) / 2, top + diameter / 2),
        initials,
        font=font,
        fill=_ink_on(background),
        anchor="mm",
    )


def _decode_avatar(avatar: bytes | None, diameter: int) -> Image.Image | None:
    """The avatar as a square RGBA image, or None if absent, unreadable or too large.

    ``Image.open`` only reads the header, so the size check happens before any pixel is
    decoded. Pillow's decoders report corrupt input with many exception types (OSError,
    SyntaxError, struct.error, EOFError, ...), and a bad avatar must not cost the member
    their card, so any failure to decode falls back to the initials circle.
    """
    if not avatar:
        return None
    try:
        with Image.open(io.BytesIO(avatar)) as source:
            width, height = source.size
            if not (0 < width <= MAX_AVATAR_SIDE and 0 < height <= MAX_AVATAR_SIDE):
                log.info("avatar_rejected", width=width, height=height)
                return None
            source.draft("RGB", (diameter, diameter))  # JPEG: decode at a reduced scale
            picture = source.convert("RGBA")
        return ImageOps.fit(picture, (diameter, diameter), Image.Resampling.LANCZOS)
    except Exception as error:  # noqa: BLE001 (see the docstring)
        log.info("avatar_unreadable", error=type(error).__name__)
        return None
