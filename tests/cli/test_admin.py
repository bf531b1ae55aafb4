"""``townsquare admin``: bootstrap users, roles and API tokens from a terminal or a script."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import psycopg
import pytest

PASSWORD = "bootstrap passphrase 1"
pytestmark = pytest.mark.slow  # every command is a real subprocess


def townsquare(
    env: dict[str, str], *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "townsquare", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def community(migrated_database: str) -> str:
    with psycopg.connect(migrated_database) as conn:
        conn.execute("INSERT INTO communities (slug, name) VALUES ('town', 'Town')")
    return "town"


def _rows(url: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_create_an_instance_admin_owning_a_community(
    env: dict[str, str], migrated_database: str, community: str
) -> None:
    result = townsquare(
        env,
        "admin",
        "create",
        "root",
        "--instance-admin",
        "--community",
        community,
        "--role",
        "owner",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )

    assert result.returncode == 0, result.stderr
    assert "Created instance admin 'root'" in result.stdout
    ((is_admin, password_hash),) = _rows(
        migrated_database, "SELECT is_instance_admin, password_hash FROM users"
    )
    assert is_admin is True
    assert str(password_hash).startswith("scrypt$")
    assert PASSWORD not in str(password_hash)
    assert _rows(migrated_database, "SELECT role, source FROM community_roles") == [
        ("owner", "manual")
    ]


def test_a_password_is_never_an_argument(env: dict[str, str]) -> None:
    result = townsquare(env, "admin", "create", "root", "--password", PASSWORD)
    assert result.returncode == 2
    assert "No such option" in result.stderr


def test_a_short_password_is_a_clear_error(env: dict[str, str]) -> None:
    short = townsquare(env, "admin", "create", "root", "--password-stdin", stdin="short\n")

    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr
    assert "Traceback" not in short.stderr


def test_grant_role_to_a_local_user_or_a_discord_account(
    env: dict[str, str], migrated_database: str, community: str
) -> None:
    with psycopg.connect(migrated_database) as conn:
        row = conn.execute("INSERT INTO users (display_name) VALUES ('ops') RETURNING id")
        (user_id,) = row.fetchone() or (None,)
        conn.execute(
            "INSERT INTO user_identities (provider, subject, user_id) VALUES ('local', 'ops', %s)",
            (user_id,),
        )

    local = townsquare(env, "admin", "grant-role", "ops", community, "moderator")
    discord = townsquare(
        env, "admin", "grant-role", "discord:80351110224678912", community, "ADMIN"
    )
    unknown = townsquare(env, "admin", "grant-role", "nobody", community, "viewer")

    assert local.returncode == discord.returncode == 0, local.stderr + discord.stderr
    assert unknown.returncode == 2
    assert "No local user named 'nobody'" in unknown.stderr
    assert sorted(_rows(migrated_database, "SELECT role FROM community_roles")) == [
        ("admin",),
        ("moderator",),
    ]
    audited = _rows(
        migrated_database, "SELECT actor_type, action, after->>'role' FROM audit_log ORDER BY id"
    )
    assert audited == [("cli", "access.role.set", "moderator"), ("cli", "access.role.set", "admin")]


def test_a_token_is_printed_once_and_stored_hashed(
    env: dict[str, str], migrated_database: str, community: str
) -> None:
    result = townsquare(
        env, "admin", "token", "create", community, "ci", "-p", "read", "-p", "grant"
    )

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("tsq_")
    assert "not shown again" in result.stderr
    ((token_hash, permissions),) = _rows(
        migrated_database, "SELECT token_hash, permissions FROM api_tokens"
    )
    assert isinstance(token_hash, bytes)
    assert isinstance(permissions, list)
    assert token_hash == hashlib.sha256(token.encode()).digest()
    assert sorted(permissions) == ["grant", "read"]
    ((action, after),) = _rows(migrated_database, "SELECT action, after::text FROM audit_log")
    assert action == "access.token.create"
    assert token not in str(after)  # the plaintext is never audited
