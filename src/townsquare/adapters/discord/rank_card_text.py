"""Fonts and names for the rank card: which installed font can draw a name, and the name
reduced to what it can draw (no .notdef boxes), truncated to fit.

Fonts are cached per process; sharing them between executor threads is safe under the GIL.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path

from PIL import ImageFont

_NAME_SCAN_LIMIT = 128  # far more code points than fit on the card; bounds the work

_FONT_ROOT = Path("/usr/share/fonts")
_BOLD_FONTS = (
    "truetype/dejavu/DejaVuSans-Bold.ttf",
    "truetype/noto/NotoSans-Bold.ttf",
    "opentype/noto/NotoSansCJK-Bold.ttc",
)
_REGULAR_FONTS = (
    "truetype/dejavu/DejaVuSans.ttf",
    "truetype/noto/NotoSans-Regular.ttf",
    "opentype/noto/NotoSansCJK-Regular.ttc",
)


@functools.cache
def installed_faces(bold: bool) -> tuple[str | None, ...]:
    """Installed fonts in order of preference; ``None`` is Pillow's built-in Aileron."""
    found: list[str | None] = []
    for relative in _BOLD_FONTS if bold else _REGULAR_FONTS:
        path = _FONT_ROOT / relative
        if not path.is_file():  # truetype() would go looking for the name elsewhere
            continue
        try:
            ImageFont.truetype(str(path), 16)
        except OSError:  # unreadable: the next font, at worst Aileron
            continue
        found.append(str(path))
    return (*found, None)


@functools.lru_cache(maxsize=128)
def font_for(face: str | None, size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(face, size) if face else ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # only a Pillow built without FreeType
        raise RuntimeError("the rank card needs Pillow with FreeType support")
    return font


@functools.lru_cache(maxsize=16_384)
def has_glyph(face: str | None, char: str) -> bool:
    """Whether the font has a glyph for ``char``: a missing one renders as the .notdef box."""
    probe = font_for(face, 16)
    mask = probe.getmask(char)
    return (mask.size, bytes(mask)) != notdef_mask(face)


@functools.cache
def notdef_mask(face: str | None) -> tuple[tuple[int, int], bytes]:
    mask = font_for(face, 16).getmask("\U0010fffd")  # private use: in no font we ship
    return mask.size, bytes(mask)


def drawable_name(raw: str) -> tuple[str | None, str]:
    """The font covering most of the name, and the name reduced to what that font can draw.

    Control characters and line breaks become spaces (they would start new lines), spaces
    collapse, and characters no font has (most emoji) are dropped or replaced by their
    compatibility decomposition (é -> e for Aileron, ﬁ -> fi) instead of drawn as boxes.
    """
    kept: list[str] = []
    for char in raw[:_NAME_SCAN_LIMIT]:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp"):
            kept.append(" ")
        elif category not in ("Cs", "Co", "Cn"):
            kept.append(char)
    text = " ".join("".join(kept).split())
    visible = set(text) - {" "}
    faces = installed_faces(bold=True)
    face, best = faces[0], -1
    for candidate in faces:
        covered = sum(has_glyph(candidate, char) for char in visible)
        if covered > best:
            face, best = candidate, covered
        if covered == len(visible):
            break
    drawable: list[str] = []
    for char in text:
        if char == " " or has_glyph(face, char):
            drawable.append(char)
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            drawable.extend(part for part in decomposed if has_glyph(face, part))
    return face, " ".join("".join(drawable).split())


def cut_text(text: str, end: int) -> str:
    """``text[:end]`` moved back so a base letter keeps its accents and emoji their joiners."""
    while 0 < end < len(text) and (
        unicodedata.category(text[end]).startswith("M") or text[end - 1] == "\u200d"
    ):
        end -= 1
    return text[:end].rstrip()


def truncate_to_width(
    text: str, font: ImageFont.FreeTypeFont, max_width: float, ellipsis: str
) -> str:
    if font.getlength(text) <= max_width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        middle = (low + high + 1) // 2
        if font.getlength(cut_text(text, middle) + ellipsis) <= max_width:
            low = middle
        else:
            high = middle - 1
    return cut_text(text, low) + ellipsis


def initials_of(name: str, face: str | None) -> str:
    """First letters of the first two words, upper-cased where the font has the capital."""
    letters = [word[0] for word in name.split() if word[0].isalnum()][:2]
    capitals = [
        capital if has_glyph(face, capital := letter.upper()[0]) else letter for letter in letters
    ]
    return "".join(capitals) or "?"
