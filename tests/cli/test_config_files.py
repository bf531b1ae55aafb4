"""``townsquare config export|import``: round trips, conflicts, and bad files change nothing."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import yaml

from tests.cli.test_import import townsquare


def _community(env: dict[str, str], slug: str, channels: tuple[str, ...] = ()) -> int:
    with psycopg.connect(env["TOWNSQUARE_DATABASE_URL"]) as conn:
        row = conn.execute(
            "INSERT INTO communities (slug, name) VALUES (%s, %s) RETURNING id", (slug, slug)
        ).fetchone()
        assert row is not None
        for channel in channels:
            conn.execute(
                "INSERT INTO channels (community_id, platform, external_id, name, type) "
                "VALUES (%s, 'discord', %s, %s, 'text')",
                (row[0], channel, channel),
            )
        return int(row[0])


def _state(env: dict[str, str], community_id: int) -> tuple[int, int]:
    """(config_version, audit entries) of a community."""
    with psycopg.connect(env["TOWNSQUARE_DATABASE_URL"]) as conn:
        row = conn.execute(
            "SELECT config_version, (SELECT count(*) FROM audit_log WHERE community_id = c.id) "
            "FROM communities c WHERE id = %s",
            (community_id,),
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def _edit(path: Path, change: dict[str, object]) -> None:
    exported = yaml.safe_load(path.read_text())
    exported["document"]["rules"].update(change)
    path.write_text(yaml.safe_dump(exported))


def test_export_edit_import_round_trip_is_audited(env: dict[str, str], tmp_path: Path) -> None:
    community_id = _community(env, "guild", channels=("c1",))
    path = tmp_path / "rules.yaml"
    exported = townsquare(env, "config", "export", "guild", "--output", str(path))
    assert exported.returncode == 0, exported.stderr
    rule = {"target_id": "c1", "multiplier": 2.0}
    _edit(path, {"multipliers": {"channel_rules": [rule]}})

    imported = townsquare(env, "config", "import", "guild", str(path), "--reason", "double c1")
    assert imported.returncode == 0, imported.stderr
    assert "config version 1 -> 2" in imported.stdout
    assert _state(env, community_id) == (2, 1)
    again = townsquare(env, "config", "export", "guild", "--format", "json")
    document = json.loads(again.stdout)["document"]
    assert document["rules"]["multipliers"]["channel_rules"][0]["multiplier"] == 2.0
    # Importing the same file once more changes nothing.
    same = townsquare(env, "config", "import", "guild", str(path), "--force")
    assert "No change" in same.stdout
    assert _state(env, community_id) == (2, 1)


def test_a_stale_export_conflicts_unless_forced(env: dict[str, str], tmp_path: Path) -> None:
    community_id = _community(env, "guild")
    old, newer = tmp_path / "old.yaml", tmp_path / "newer.yaml"
    townsquare(env, "config", "export", "guild", "--output", str(old))
    townsquare(env, "config", "export", "guild", "--output", str(newer))
    _edit(newer, {"day_offset_minutes": 60})
    assert townsquare(env, "config", "import", "guild", str(newer)).returncode == 0
    _edit(old, {"day_offset_minutes": 120})

    stale = townsquare(env, "config", "import", "guild", str(old))
    assert stale.returncode == 2
    assert "changed since version 1" in stale.stderr
    assert _state(env, community_id) == (2, 1)
    forced = townsquare(env, "config", "import", "guild", str(old), "--force")
    assert forced.returncode == 0, forced.stderr
    assert _state(env, community_id) == (3, 2)


def test_a_file_moves_to_another_community(env: dict[str, str], tmp_path: Path) -> None:
    _community(env, "source")
    target = _community(env, "target")
    path = tmp_path / "rules.json"
    townsquare(env, "config", "export", "source", "--output", str(path))
    exported = json.loads(path.read_text())
    exported["document"]["rules"]["base_rewards"] = {"message": {"xp": 3}}
    path.write_text(json.dumps(exported))
    result = townsquare(env, "config", "import", "target", str(path))
    assert result.returncode == 0, result.stderr
    assert _state(env, target) == (2, 1)


def test_an_invalid_file_is_rejected_whole_with_every_problem(
    env: dict[str, str], tmp_path: Path
) -> None:
    community_id = _community(env, "guild")
    path = tmp_path / "rules.yaml"
    townsquare(env, "config", "export", "guild", "--output", str(path))
    _edit(
        path,
        {
            "multipliers": {"channel_rules": [{"target_id": "nowhere", "multiplier": 1.5}]},
            "levels": {"curve": {"type": "table", "thresholds": [100, 50]}},
            "quality": {"floor": -1},
        },
    )
    result = townsquare(env, "config", "import", "guild", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "rules.quality.floor" in result.stderr
    assert "rules.levels.curve" in result.stderr
    assert _state(env, community_id) == (1, 0)


def test_files_that_are_not_exports_are_refused(env: dict[str, str], tmp_path: Path) -> None:
    _community(env, "guild")
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("key: [unclosed\n")
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"rules": {}}))
    for path, message in (
        (garbage, "not valid JSON/YAML"),
        (foreign, "not a `townsquare config export` file"),
        (tmp_path / "missing.yaml", "does not exist"),
    ):
        result = townsquare(env, "config", "import", "guild", str(path))
        assert result.returncode == 2, path
        assert message in result.stderr
    unknown = townsquare(env, "config", "export", "nowhere")
    assert unknown.returncode == 2
    assert "No community with slug or id 'nowhere'" in unknown.stderr
