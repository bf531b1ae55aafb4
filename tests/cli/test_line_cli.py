"""``townsquare line rich-menu``: the real command in a subprocess against the fake LINE."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from PIL import Image

from townsquare.adapters.line.rich_menu import AREAS, HEIGHT, MENU_NAME, WIDTH
from townsquare.fakes.line import FakeLine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def fake() -> Iterator[FakeLine]:
    with FakeLine() as line:
        yield line
        assert line.errors == []


def run_line(fake: FakeLine, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    channels = [{"key": "clinic", "secret": "s" * 32, "access_token": fake.channel.access_token}]
    env = {
        **env,
        "TOWNSQUARE_LINE_CHANNELS": json.dumps(channels),
        "TOWNSQUARE_LINE_API_URL": fake.url,
        "TOWNSQUARE_LINE_DATA_API_URL": fake.url,
    }
    return subprocess.run(
        [sys.executable, "-m", "townsquare", "line", "rich-menu", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_rich_menu_is_created_illustrated_and_made_the_default(
    fake: FakeLine, cli_env: dict[str, str]
) -> None:
    done = run_line(fake, cli_env, "clinic")
    assert done.returncode == 0, done.stderr
    [(menu_id, menu)] = fake.rich_menus().items()
    assert fake.default_rich_menu() == menu_id
    assert f"Rich menu {menu_id} (Rank / Leaderboard / Profile / Help)" in done.stdout
    assert menu["name"] == MENU_NAME
    assert menu["size"] == {"width": WIDTH, "height": HEIGHT}
    actions = [area["action"] for area in menu["areas"]]
    assert [a["data"] for a in actions] == [f"action={action}" for _, action, _ in AREAS]
    assert [a["type"] for a in actions] == ["postback"] * 4
    image = fake.rich_menu_image(menu_id)
    assert image is not None
    assert Image.open(io.BytesIO(image)).size == (WIDTH, HEIGHT)
    assert len(image) < 1024 * 1024


def test_running_it_again_replaces_the_menu(fake: FakeLine, cli_env: dict[str, str]) -> None:
    assert run_line(fake, cli_env, "clinic").returncode == 0
    first = fake.default_rich_menu()
    again = run_line(fake, cli_env, "clinic")
    assert again.returncode == 0, again.stderr
    assert "replaced 1 earlier" in again.stdout
    assert list(fake.rich_menus()) == [fake.default_rich_menu()]
    assert fake.default_rich_menu() != first


def test_an_unknown_channel_is_a_clear_error(fake: FakeLine, cli_env: dict[str, str]) -> None:
    done = run_line(fake, cli_env, "shop")
    assert done.returncode == 2
    assert "No LINE channel 'shop' in line.channels (known: clinic)" in done.stderr
    assert "Traceback" not in done.stderr
    assert fake.calls == []


def test_a_failed_upload_leaves_no_half_made_menu(fake: FakeLine, cli_env: dict[str, str]) -> None:
    fake.fail("POST", "/v2/bot/richmenu/richmenu-", status=500, times=1)
    done = run_line(fake, cli_env, "clinic")
    assert done.returncode == 2
    assert "LINE refused to upload the rich menu image (HTTP 500" in done.stderr
    assert "Traceback" not in done.stderr
    assert fake.rich_menus() == {}
    assert fake.default_rich_menu() is None
