"""``townsquare run``: the bots, pipeline and API in one process, against a fake Discord."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import httpx
import pytest

from tests.adapters.discord.harness import Town
from tests.cli.test_cli import COMMAND, run_cli
from townsquare.fakes.discord import DEFAULT_TOKEN, FakeDiscord, payloads

pytestmark = pytest.mark.timeout(180)


def test_run_connects_the_bot_serves_ready_and_counts_a_message(cli_env: dict[str, str]) -> None:
    town = Town(size=2)
    with FakeDiscord(guilds=[town.guild()]) as fake:
        cli_env["TOWNSQUARE_DISCORD_TOKEN"] = DEFAULT_TOKEN
        cli_env["TOWNSQUARE_DISCORD_API_URL"] = fake.url
        process = subprocess.Popen(
            [*COMMAND, "run", "--port", "0"],
            env=cli_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            base_url = None
            deadline = time.monotonic() + 90
            while base_url is None and time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line:
                    break
                if match := re.search(r"(http://127\.0\.0\.1:\d+)/health", line):
                    base_url = match.group(1)
            assert base_url is not None, "run did not print where it serves"
            ready = httpx.get(f"{base_url}/ready", timeout=10).json()
            assert ready["checks"]["discord"]["status"] == "ok"
            assert ready["checks"]["discord"]["shards"]["0"]["ready"] is True
            assert fake.commands[None], "the slash commands were registered globally"
            fake.dispatch("MESSAGE_CREATE", town.message(1, payloads.snowflake()))
            committed = 0
            while committed == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
                pipeline = httpx.get(f"{base_url}/ready", timeout=10).json()["checks"]["pipeline"]
                committed = pipeline["committed_events"]
            assert committed == 1
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
            if process.stdout is not None:
                process.stdout.close()


def test_run_with_a_refused_token_exits_2_with_what_to_do(cli_env: dict[str, str]) -> None:
    with FakeDiscord(guilds=[]) as fake:
        cli_env["TOWNSQUARE_DISCORD_TOKEN"] = "not-the-token"
        cli_env["TOWNSQUARE_DISCORD_API_URL"] = fake.url
        result = run_cli("run", "--port", "0", env=cli_env, timeout=120)
    assert result.returncode == 2
    assert "Reset Token" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_run_without_any_platform_says_what_to_configure(cli_env: dict[str, str]) -> None:
    result = run_cli("run", env=cli_env)
    assert result.returncode == 2
    assert "TOWNSQUARE_DISCORD_TOKEN" in result.stderr


def test_run_with_bad_shard_settings_names_them(cli_env: dict[str, str]) -> None:
    cli_env["TOWNSQUARE_DISCORD_TOKEN"] = DEFAULT_TOKEN
    cli_env["TOWNSQUARE_DISCORD_SHARD_IDS"] = "[0, 3]"
    cli_env["TOWNSQUARE_DISCORD_SHARD_COUNT"] = "2"
    result = run_cli("run", env=cli_env)
    assert result.returncode == 2
    assert "shard" in result.stderr
