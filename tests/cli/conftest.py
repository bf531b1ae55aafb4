"""Fixtures for commands that work on a real database of their own."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def env(cli_env: dict[str, str], migrated_database: str, tmp_path: Path) -> dict[str, str]:
    return {
        **cli_env,
        "TOWNSQUARE_DATABASE_URL": migrated_database,
        "TOWNSQUARE_PIPELINE_SPOOL_DIR": str(tmp_path / "spool"),
        "TOWNSQUARE_LOG_LEVEL": "WARNING",
    }
