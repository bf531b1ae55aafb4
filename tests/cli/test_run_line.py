"""``townsquare run --platform line``: webhook, inbox workers and handler in one process,
against a fake LINE; and ``serve`` as a receiver only."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from typing import Any

import httpx
import pytest

from tests.cli.test_cli import COMMAND, run_cli
from townsquare.cli.platforms import adapter_factories, webhook_routers
from townsquare.config.settings import Settings, load_settings
from townsquare.fakes.line import FakeLine, ids, webhooks

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _line_env(cli_env: dict[str, str], fake: FakeLine) -> dict[str, str]:
    channel = fake.channel
    account = {"key": "clinic", "secret": channel.secret, "access_token": channel.access_token}
    return {
        **cli_env,
        "TOWNSQUARE_LINE_CHANNELS": json.dumps([account]),
        "TOWNSQUARE_LINE_API_URL": fake.url,
        "TOWNSQUARE_LINE_DATA_API_URL": fake.url,
    }


def _base_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if match := re.search(r"(http://127\.0\.0\.1:\d+)/health", line):
            return match.group(1)
    raise AssertionError("the process did not print where it serves")


def _ready(base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{base_url}/ready", timeout=10).json()
    return body


def test_run_line_acknowledges_processes_and_answers_a_webhook(cli_env: dict[str, str]) -> None:
    with FakeLine() as fake:
        process = subprocess.Popen(
            [*COMMAND, "run", "--platform", "line", "--port", "0"],
            env=_line_env(cli_env, fake),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            base_url = _base_url(process)
            line = _ready(base_url)["checks"]["line"]
            assert (line["status"], line["channels"], line["pending"]) == ("ok", ["clinic"], 0)
            user = ids.user_id()
            token = fake.reply_token(user)
            request = fake.signed_webhook(
                [webhooks.follow(webhooks.user_source(user), reply_token=token)]
            )
            response = httpx.post(
                f"{base_url}/line/webhook/clinic",
                content=request.body,
                headers=request.headers,
                timeout=10,
            )
            assert response.status_code == 200
            deadline = time.monotonic() + 30
            while _ready(base_url)["checks"]["line"]["done"] < 1:
                assert time.monotonic() < deadline, "the event was not handled"
                time.sleep(0.2)
            assert fake.replies(user), "the follow was answered through the Messaging API"
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
            if process.stdout is not None:
                process.stdout.close()


def test_serve_receives_line_webhooks_into_the_inbox(cli_env: dict[str, str]) -> None:
    with FakeLine() as fake:
        process = subprocess.Popen(
            [*COMMAND, "serve", "--port", "0"],
            env=_line_env(cli_env, fake),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            base_url = _base_url(process)
            request = fake.signed_webhook([webhooks.follow(webhooks.user_source(ids.user_id()))])
            response = httpx.post(
                f"{base_url}/line/webhook/clinic",
                content=request.body,
                headers=request.headers,
                timeout=10,
            )
            assert response.status_code == 200
            assert "line" not in _ready(base_url)["checks"]  # no workers here
            process.send_signal(signal.SIGTERM)
            assert process.wait(60) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(30)
            if process.stdout is not None:
                process.stdout.close()


def test_run_line_without_channels_says_what_to_configure(cli_env: dict[str, str]) -> None:
    result = run_cli("run", "--platform", "line", env=cli_env)
    assert result.returncode == 2
    assert "TOWNSQUARE_LINE_CHANNELS" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_an_unknown_platform_names_the_choices(cli_env: dict[str, str]) -> None:
    result = run_cli("run", "--platform", "telegram", env=cli_env)
    assert result.returncode == 2
    assert "'line'" in result.stderr


def _settings(**overrides: Any) -> Settings:
    return load_settings(**overrides)


ACCOUNT = {"key": "clinic", "secret": "s", "access_token": "t"}


@pytest.mark.parametrize(
    ("choice", "discord", "line", "adapters"),
    [
        ("all", True, True, 2),
        ("all", False, True, 1),
        ("all", True, False, 1),
        ("line", True, True, 1),
        ("discord", True, True, 1),
    ],
)
def test_all_starts_every_configured_platform(
    choice: str, discord: bool, line: bool, adapters: int
) -> None:
    settings = _settings(
        discord={"token": "x" * 60} if discord else {},
        line={"channels": [ACCOUNT] if line else []},
    )
    assert len(adapter_factories(settings, choice)) == adapters


def test_serve_mounts_a_receiver_only_webhook_when_channels_are_configured() -> None:
    assert webhook_routers(_settings(line={"channels": [ACCOUNT]}), ()) != []
    assert webhook_routers(_settings(), ()) == []
