from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from townsquare.config.settings import load_settings
from townsquare.errors import SettingsInvalid


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("TOWNSQUARE_"):
            monkeypatch.delenv(key)


def test_defaults_bound_the_pool_wait() -> None:
    settings = load_settings()
    assert settings.database.url is None
    assert settings.database.pool_timeout == 10.0
    assert settings.database.pool_pre_ping is True


def test_environment_variables_set_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_DATABASE_URL", "postgresql://app:pw@db.internal:5432/ts")
    monkeypatch.setenv("TOWNSQUARE_DATABASE_POOL_SIZE", "25")
    monkeypatch.setenv("TOWNSQUARE_EMBEDDED_DATA_DIR", "/srv/townsquare")
    monkeypatch.setenv("TOWNSQUARE_LOG_LEVEL", "debug")
    settings = load_settings()
    assert settings.database.url == "postgresql://app:pw@db.internal:5432/ts"
    assert settings.database.pool_size == 25
    assert settings.embedded.data_dir == Path("/srv/townsquare")
    assert settings.log.level == "DEBUG"


def test_toml_file_is_read_and_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "townsquare.toml"
    config.write_text("[database]\npool_size = 3\npool_timeout = 2.5\n[api]\nport = 9000\n")
    monkeypatch.setenv("TOWNSQUARE_DATABASE_POOL_SIZE", "7")
    settings = load_settings(config)
    assert settings.database.pool_size == 7
    assert settings.database.pool_timeout == 2.5
    assert settings.api.port == 9000


def test_invalid_value_names_setting_value_and_what_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOWNSQUARE_DATABASE_POOL_TIMEOUT", "-1")
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    message = caught.value.message
    assert "database.pool_timeout" in message
    assert "TOWNSQUARE_DATABASE_POOL_TIMEOUT" in message
    assert "'-1'" in message
    assert "greater than 0" in message


def test_every_invalid_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOWNSQUARE_DATABASE_POOL_SIZE", "zero")
    monkeypatch.setenv("TOWNSQUARE_LOG_FORMAT", "xml")
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    lines = caught.value.message.splitlines()
    assert len(lines) == 2
    assert any("database.pool_size" in line and "'zero'" in line for line in lines)
    assert any("log.format" in line and "'auto', 'json' or 'console'" in line for line in lines)


def test_non_postgres_url_is_rejected_without_showing_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOWNSQUARE_DATABASE_URL", "mysql://root:hunter2@db/app")
    with pytest.raises(SettingsInvalid) as caught:
        load_settings()
    assert "not PostgreSQL" in caught.value.message
    assert "hunter2" not in caught.value.message


def test_unknown_key_in_config_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "townsquare.toml"
    config.write_text("[database]\npool_sise = 3\n")
    with pytest.raises(SettingsInvalid) as caught:
        load_settings(config)
    assert "Unknown setting database.pool_sise" in caught.value.message


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "does not exist"), ("[database\n", "not valid TOML"), (b"\xff\xfe", "not UTF-8")],
)
def test_unusable_config_file_is_explained(
    tmp_path: Path, content: str | bytes | None, expected: str
) -> None:
    config = tmp_path / "townsquare.toml"
    if isinstance(content, str):
        config.write_text(content)
    elif isinstance(content, bytes):
        config.write_bytes(content)
    with pytest.raises(SettingsInvalid) as caught:
        load_settings(config)
    assert expected in caught.value.message
    assert str(config) in caught.value.message


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_pool_size_is_accepted_exactly_within_its_range(pool_size: int) -> None:
    if 1 <= pool_size <= 500:
        assert load_settings(database={"pool_size": pool_size}).database.pool_size == pool_size
    else:
        with pytest.raises(SettingsInvalid) as caught:
            load_settings(database={"pool_size": pool_size})
        assert f"got {pool_size}" in caught.value.message


@given(st.text(min_size=1).filter(lambda s: s.strip() != ""))
def test_any_database_url_is_accepted_only_if_it_is_postgresql(url: str) -> None:
    try:
        settings = load_settings(database={"url": url})
    except SettingsInvalid as exc:
        message = exc.message
        assert "database.url" in message
    else:
        assert settings.database.url is not None
        assert settings.database.url.split(":", 1)[0] in {
            "postgresql",
            "postgres",
            "postgresql+psycopg",
        }
