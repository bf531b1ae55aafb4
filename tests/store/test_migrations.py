from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from townsquare.config.document import CommunityConfigDocument, reference_problems
from townsquare.config.settings import DatabaseSettings
from townsquare.errors import SchemaError
from townsquare.store import migrate
from townsquare.store.engine import create_sync_engine
from townsquare.store.models import Base


@pytest.fixture
def sync_engine(fresh_database: str) -> Iterator[Engine]:
    engine = create_sync_engine(fresh_database, DatabaseSettings())
    yield engine
    engine.dispose()


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def test_empty_database_upgrades_to_head(sync_engine: Engine) -> None:
    before = migrate.status(sync_engine)
    assert before.current is None
    assert before.pending[-1] == before.head
    after = migrate.upgrade(sync_engine)
    assert after.up_to_date
    assert after.pending == ()
    assert {table.name for table in Base.metadata.sorted_tables} <= _tables(sync_engine)


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(
    sync_engine: Engine,
) -> None:
    migrate.upgrade(sync_engine)
    assert migrate.downgrade(sync_engine, "base").current is None
    assert _tables(sync_engine) == set()
    with sync_engine.connect() as conn:
        functions = conn.execute(
            text("SELECT count(*) FROM pg_proc WHERE proname LIKE 'townsquare%'")
        ).scalar()
    assert functions == 0
    assert migrate.upgrade(sync_engine).up_to_date


def test_migrations_create_exactly_what_the_models_describe(sync_engine: Engine) -> None:
    migrate.upgrade(sync_engine)
    with sync_engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": _not_a_partition}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _not_a_partition(name: str | None, type_: str, _parents: object) -> bool:
    # Partitions of the event lake are made by migrations and maintenance, not by models.
    return not (type_ == "table" and name is not None and name.startswith("events_"))


def test_database_from_a_newer_version_is_refused(sync_engine: Engine) -> None:
    migrate.upgrade(sync_engine)
    with sync_engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
    with pytest.raises(SchemaError) as caught:
        migrate.status(sync_engine)
    assert "newer version" in caught.value.message


def test_unknown_target_revision_is_a_clear_error(sync_engine: Engine) -> None:
    with pytest.raises(SchemaError) as caught:
        migrate.upgrade(sync_engine, "nonexistent")
    assert "nonexistent" in caught.value.message


def test_concurrent_upgrades_run_the_migrations_once(fresh_database: str) -> None:
    engines = [create_sync_engine(fresh_database, DatabaseSettings()) for _ in range(3)]
    errors: list[BaseException] = []

    def run(engine: Engine) -> None:
        try:
            migrate.upgrade(engine)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert migrate.status(engines[0]).up_to_date
    finally:
        for engine in engines:
            engine.dispose()


def test_0004_wraps_existing_rules_into_documents_with_the_catalog_they_need(
    sync_engine: Engine,
) -> None:
    migrate.upgrade(sync_engine, "0003")
    rules = {
        "base_rewards": {"message": {"xp": 7}},
        "achievements": [
            {
                "id": "talker",
                "name": "Talker",
                "category": "voice",
                "rarity": "epic",
                "series": "talk",
                "tier": 1,
                "trigger": {"type": "counter", "counter": "voice_minutes", "threshold": 60},
            }
        ],
    }
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO communities (id, slug, name) OVERRIDING SYSTEM VALUE "
                "VALUES (5, 'c', 'C')"
            )
        )
        conn.execute(
            text("INSERT INTO community_settings (community_id, settings) VALUES (5, :doc)"),
            {"doc": json.dumps(rules)},
        )
    migrate.upgrade(sync_engine)
    with sync_engine.connect() as conn:
        raw = conn.execute(text("SELECT settings FROM community_settings")).scalar_one()
    document = CommunityConfigDocument.model_validate(raw)
    assert reference_problems(document, None) == []
    assert document.rules.base_rewards.message.xp == 7
    assert "voice" in {c.key for c in document.catalog.categories}
    assert [s.key for s in document.catalog.series] == ["talk"]

    migrate.downgrade(sync_engine, "0003")
    with sync_engine.connect() as conn:
        assert conn.execute(text("SELECT settings FROM community_settings")).scalar_one() == rules


def test_0004_refuses_to_drop_old_rules_tables_that_hold_rows(sync_engine: Engine) -> None:
    migrate.upgrade(sync_engine, "0003")
    with sync_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO communities (id, slug, name) OVERRIDING SYSTEM VALUE "
                "VALUES (5, 'c', 'C')"
            )
        )
        conn.execute(
            text("INSERT INTO channel_type_rules (community_id, channel_type) VALUES (5, 'text')")
        )
    with pytest.raises(SchemaError, match="channel_type_rules"):
        migrate.upgrade(sync_engine)
    assert migrate.status(sync_engine).current == "0003"
    assert "channel_type_rules" in _tables(sync_engine)
