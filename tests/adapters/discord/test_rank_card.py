"""The `/rank` card: right size, honest bar, and no input a member can choose makes it raise."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from townsquare.adapters.discord import rank_card, rank_card_text
from townsquare.adapters.discord.rank_card import (
    AVATAR_BOX,
    CARD_SIZE,
    MAX_AVATAR_SIDE,
    PROGRESS_BAR_BOX,
    RankCard,
    render_rank_card,
)

ACCENT = (88, 101, 242)
ARTIFACTS_ENV = "TOWNSQUARE_TEST_ARTIFACTS"


def _card(**changes: object) -> RankCard:
    fields: dict[str, object] = {
        "display_name": "Alice Wonderland",
        "level": 12,
        "xp_into_level": 1_234,
        "xp_for_next_level": 2_000,
        "total_xp": 45_678,
        "rank": 3,
        "members_ranked": 1_024,
        "stars": 87,
        "gold": 5_600_000,
        "avatar_png": None,
        "accent": ACCENT,
    }
    fields.update(changes)
    return RankCard(**fields)  # type: ignore[arg-type]


def _open(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.convert("RGB")


def _png(size: tuple[int, int], color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _png_header_claiming(width: int, height: int) -> bytes:
    """A PNG signature and a valid IHDR for an enormous image, and no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    )


def _accent_pixels_in_bar(image: Image.Image) -> int:
    left, top, right, bottom = PROGRESS_BAR_BOX
    middle = (top + bottom) // 2
    pixels = [image.getpixel((x, middle)) for x in range(left, right)]
    return sum(
        1
        for pixel in pixels
        if isinstance(pixel, tuple)
        and max(abs(a - b) for a, b in zip(pixel, ACCENT, strict=True)) <= 3
    )


def test_card_is_a_png_of_the_common_rank_card_size(tmp_path: Path) -> None:
    png = render_rank_card(_card())

    assert _open(png).size == CARD_SIZE == (934, 282)
    sample = tmp_path / "rank_card.png"
    sample.write_bytes(png)
    if artifacts := os.environ.get(ARTIFACTS_ENV):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(sample, Path(artifacts) / sample.name)


def test_progress_bar_fill_grows_with_the_fraction() -> None:
    bar_width = PROGRESS_BAR_BOX[2] - PROGRESS_BAR_BOX[0]

    at_20 = _accent_pixels_in_bar(_open(render_rank_card(_card(xp_into_level=400))))
    at_80 = _accent_pixels_in_bar(_open(render_rank_card(_card(xp_into_level=1_600))))

    assert at_80 > at_20 > 0
    assert at_20 == pytest.approx(0.2 * bar_width, abs=3)
    assert at_80 == pytest.approx(0.8 * bar_width, abs=3)


def test_max_level_shows_a_full_bar() -> None:
    bar_width = PROGRESS_BAR_BOX[2] - PROGRESS_BAR_BOX[0]

    image = _open(render_rank_card(_card(xp_for_next_level=None)))

    assert _accent_pixels_in_bar(image) >= bar_width - 2  # all but the antialiased ends


@pytest.mark.parametrize(
    ("into", "need", "expected_fraction"),
    [(5_000, 2_000, 1.0), (-50, 2_000, 0.0), (10, 0, 1.0), (10, -5, 1.0)],
)
def test_progress_is_clamped_to_the_bar(into: int, need: int, expected_fraction: float) -> None:
    bar_width = PROGRESS_BAR_BOX[2] - PROGRESS_BAR_BOX[0]

    image = _open(render_rank_card(_card(xp_into_level=into, xp_for_next_level=need)))

    assert _accent_pixels_in_bar(image) == pytest.approx(expected_fraction * bar_width, abs=3)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "0"),
        (-1_234, "-1,234"),
        (999_999, "999,999"),
        (1_000_000, "1M"),
        (1_234_567, "1.2M"),
        (999_960_000, "1B"),
        (5_600_000_000_000, "5.6T"),
        (10**20, "1.0e20"),
        (99_960 * 10**15, "1.0e20"),
        (10**400, "1.0e400"),
    ],
)
def test_numbers_get_separators_and_abbreviations(value: int, label: str) -> None:
    assert rank_card._count(value) == label


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    display_name=st.text(),
    level=st.integers(),
    xp_into_level=st.integers(),
    xp_for_next_level=st.none() | st.integers(),
    total_xp=st.integers(),
    rank=st.none() | st.integers(),
    members_ranked=st.none() | st.integers(),
    stars=st.integers(),
    gold=st.integers(),
    accent=st.tuples(*[st.integers(min_value=-10, max_value=300)] * 3),
)
def test_any_name_and_numbers_render_a_card(
    display_name: str,
    level: int,
    xp_into_level: int,
    xp_for_next_level: int | None,
    total_xp: int,
    rank: int | None,
    members_ranked: int | None,
    stars: int,
    gold: int,
    accent: tuple[int, int, int],
) -> None:
    card = RankCard(
        display_name,
        level,
        xp_into_level,
        xp_for_next_level,
        total_xp,
        rank,
        members_ranked,
        stars,
        gold,
        accent=accent,
    )

    assert _open(render_rank_card(card)).size == CARD_SIZE


@pytest.mark.parametrize(
    "name",
    [
        "",
        "   ",
        "🌸🌸🌸",
        "x" * 100_000,
        "line\nbreak\ttab\x00nul",
        "Z̷̢̛̩̪̝̳̟̖̈́̈́̐̽a̸̧̛̺̱̓̀l̵̢̛̖̈́̐g̸̢̛̺̈́o̵̢̺̓" * 20,
        "مرحبا بالعالم",
        "山田太郎",
        "\ud800 lone surrogate",
    ],
)
def test_odd_display_names_render_a_card(name: str) -> None:
    assert _open(render_rank_card(_card(display_name=name))).size == CARD_SIZE


@pytest.mark.parametrize(
    "avatar",
    [
        b"",
        b"definitely not an image",
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        _png((64, 64), (200, 30, 120))[:60],  # truncated mid-stream
        _png_header_claiming(5_000, 5_000),  # over our limit, under Pillow's bomb check
        _png_header_claiming(10_000, 10_000),  # Pillow warns (an error under pytest)
        _png_header_claiming(100_000, 100_000),  # Pillow raises DecompressionBombError
    ],
    ids=["empty", "text", "png-magic", "truncated", "5k", "10k", "100k"],
)
def test_unusable_avatar_falls_back_to_initials(avatar: bytes) -> None:
    assert render_rank_card(_card(avatar_png=avatar)) == render_rank_card(_card(avatar_png=None))


def test_avatar_wider_than_the_limit_is_refused_before_decoding() -> None:
    too_wide = _png((MAX_AVATAR_SIDE + 1, 1), (200, 30, 120))  # tiny file, valid image

    assert render_rank_card(_card(avatar_png=too_wide)) == render_rank_card(_card())


@settings(max_examples=40, deadline=None)
@given(
    garbage=st.binary(max_size=512),
    magic=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff", b"RIFF"]),
)
def test_arbitrary_avatar_bytes_never_raise(garbage: bytes, magic: bytes) -> None:
    assert _open(render_rank_card(_card(avatar_png=magic + garbage))).size == CARD_SIZE


def test_avatar_appears_in_the_circle() -> None:
    colour = (200, 30, 120)
    centre = ((AVATAR_BOX[0] + AVATAR_BOX[2]) // 2, (AVATAR_BOX[1] + AVATAR_BOX[3]) // 2)

    image = _open(render_rank_card(_card(avatar_png=_png((64, 64), colour))))

    pixel = image.getpixel(centre)
    assert isinstance(pixel, tuple)
    assert max(abs(a - b) for a, b in zip(pixel, colour, strict=True)) <= 2


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A host without /usr/share/fonts (a slim container): only Pillow's built-in font."""
    caches = (
        rank_card_text.installed_faces,
        rank_card_text.font_for,
        rank_card_text.has_glyph,
        rank_card_text.notdef_mask,
    )
    monkeypatch.setattr(rank_card_text, "_FONT_ROOT", tmp_path / "no-fonts")
    for cache in caches:
        cache.cache_clear()
    yield
    for cache in caches:
        cache.cache_clear()


@pytest.mark.usefixtures("no_system_fonts")
def test_renders_with_pillows_built_in_font_when_no_system_font_exists() -> None:
    assert rank_card_text.installed_faces(bold=True) == (None,)

    png = render_rank_card(_card(display_name="Zoë Åström 山田 🌸"))

    assert _open(png).size == CARD_SIZE
