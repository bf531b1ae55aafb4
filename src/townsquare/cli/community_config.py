"""``townsquare config export|import``: a community's rules as a file, for git and migration.

An export is the configuration document (YAML or JSON) with a small header: the community
it came from and the config version it was exported at. Importing validates the whole
document before changing anything and is one audited transaction. Importing back into the
community it came from checks that nobody changed the configuration since the export (a
stale file gets a conflict, not a silent overwrite); ``--force`` overwrites anyway, which
is also how a file moves to another instance or community.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
import yaml

from townsquare.cli.app import app
from townsquare.cli.common import cli_actor, out_console, sigterm_unwinds, state
from townsquare.cli.run import prepare_schema
from townsquare.config.settings import Settings
from townsquare.errors import ConfigInvalid
from townsquare.services.community_config import get_config, replace_document
from townsquare.store.communities import get_community
from townsquare.store.database import open_database
from townsquare.store.engine import create_db_engine, create_session_factory

FILE_FORMAT = "townsquare.community-config/1"

config_app = typer.Typer(
    help="Export and import a community's engagement rules (YAML or JSON).",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n  townsquare config export my-community > rules.yaml\n\n"
        "  townsquare config import my-community rules.yaml\n\n"
        "  townsquare config import other-community rules.yaml --force"
    ),
)
app.add_typer(config_app, name="config")


class ConfigFileInvalid(ConfigInvalid):
    """The file is not a Townsquare configuration export."""

    code = "config_file_invalid"


@config_app.command("export")
def export(
    ctx: typer.Context,
    community: Annotated[str, typer.Argument(help="The community's slug or numeric id.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    fmt: Annotated[
        Literal["yaml", "json"] | None,
        typer.Option("--format", help="[default: from the output's suffix, else yaml]"),
    ] = None,
) -> None:
    """Write a community's configuration document, with the version it is at."""
    settings = state(ctx).settings()

    async def run(url: str) -> dict[str, Any]:
        engine = create_db_engine(url, settings.database)
        try:
            async with create_session_factory(engine)() as session:
                found = await get_community(session, community)
                config = await get_config(session, found.id)
        finally:
            await engine.dispose()
        return {
            "format": FILE_FORMAT,
            "community": found.slug,
            "config_version": config.config_version,
            "document": config.document,
        }

    exported = _with_database(settings, run)
    chosen = fmt or ("json" if output is not None and output.suffix == ".json" else "yaml")
    text = (
        json.dumps(exported, indent=2, ensure_ascii=False) + "\n"
        if chosen == "json"
        else yaml.safe_dump(exported, sort_keys=False, allow_unicode=True)
    )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        out_console.print(
            f"Exported {exported['community']} at config version "
            f"{exported['config_version']} to {output}."
        )


@config_app.command("import")
def import_(
    ctx: typer.Context,
    community: Annotated[str, typer.Argument(help="The community's slug or numeric id.")],
    path: Annotated[Path, typer.Argument(help="A file written by `townsquare config export`.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Overwrite even if the configuration changed since the export (or the "
            "file comes from another community or instance).",
        ),
    ] = False,
    reason: Annotated[str | None, typer.Option(help="Why, for the audit log.")] = None,
) -> None:
    """Replace a community's configuration with a file's, all or nothing, audited.

    Everything is validated first (ranges, cross-field rules, catalog references, channels
    the community knows); a bad file changes nothing and lists every problem.
    """
    settings = state(ctx).settings()
    exported = _read_export(path)

    async def run(url: str) -> tuple[int, int]:
        engine = create_db_engine(url, settings.database)
        try:
            async with create_session_factory(engine)() as session:
                found = await get_community(session, community)
                community_id = found.id
                same_community = exported.get("community") == found.slug
                expected = (
                    None
                    if force or not same_community
                    else int(exported.get("config_version") or 0) or None
                )
                before = (await get_config(session, community_id)).config_version
                result = await replace_document(
                    session,
                    cli_actor(),
                    community_id,
                    exported["document"],
                    expected_version=expected,
                    reason=reason,
                )
                await session.commit()
        finally:
            await engine.dispose()
        return before, result.config_version

    before, after = _with_database(settings, run)
    if after == before:
        out_console.print(f"No change: {community} already has this configuration.")
    else:
        out_console.print(f"Imported into {community}: config version {before} -> {after}.")


def _read_export(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileInvalid([((), f"{path} does not exist")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileInvalid([((), f"{path} cannot be read: {exc}")]) from None
    try:
        loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigFileInvalid([((), f"{path} is not valid JSON/YAML: {exc}")]) from None
    if not isinstance(loaded, dict) or loaded.get("format") != FILE_FORMAT:
        raise ConfigFileInvalid(
            [(("format",), f"not a `townsquare config export` file (expected {FILE_FORMAT})")]
        )
    if not isinstance(loaded.get("document"), dict):
        raise ConfigFileInvalid([(("document",), "missing or not an object")])
    return loaded


def _with_database(settings: Settings, run: Any) -> Any:
    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        prepare_schema(settings, location, apply=False)
        return asyncio.run(run(location.url))
