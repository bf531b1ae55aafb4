"""``townsquare admin``: people and credentials, for instances without OAuth (and bootstrap).

Passwords are never arguments (they would sit in shell history and ``ps``): they are
prompted for twice, or read from the first line of stdin with ``--password-stdin`` for
scripts. An API token is printed once, alone on stdout, so ``TOKEN=$(townsquare admin token
create ...)`` works; only its hash is stored.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, TypeVar

import typer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.cli.app import app
from townsquare.cli.common import cli_actor, err_console, out_console, sigterm_unwinds, state
from townsquare.cli.run import prepare_schema
from townsquare.config.settings import Settings
from townsquare.errors import NotFound
from townsquare.services.accounts import (
    AccessInvalid,
    Permission,
    Role,
    create_api_token,
    create_local_user,
    set_role,
    user_for_identity,
)
from townsquare.services.audit import record
from townsquare.store.communities import get_community
from townsquare.store.database import open_database
from townsquare.store.engine import create_db_engine, create_session_factory
from townsquare.store.models import UserIdentity

T = TypeVar("T")

admin_app = typer.Typer(
    help="Create sign-in users, grant community roles, issue API tokens.",
    no_args_is_help=True,
    epilog=(
        "Examples:\n\n  townsquare admin create root --instance-admin\n\n"
        '  echo "$PASSWORD" | townsquare admin create ops --password-stdin '
        "--community my-community --role owner\n\n"
        "  townsquare admin grant-role discord:80351110224678912 my-community admin\n\n"
        "  townsquare admin token create my-community ci --permission read --permission grant"
    ),
)
token_app = typer.Typer(help="API tokens for automation.", no_args_is_help=True)
admin_app.add_typer(token_app, name="token")
app.add_typer(admin_app, name="admin")

RoleName = Annotated[
    Role, typer.Argument(case_sensitive=False, help="owner, admin, moderator or viewer.")
]


@admin_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The sign-in name.")],
    instance_admin: Annotated[
        bool, typer.Option("--instance-admin", help="May manage every community.")
    ] = False,
    community: Annotated[
        str | None, typer.Option(help="Also give a role in this community (slug or id).")
    ] = None,
    role: Annotated[
        Role | None, typer.Option(case_sensitive=False, help="The role in --community.")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="[default: the name]")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
) -> None:
    """Create a user who signs in with a name and password (at least 12 characters)."""
    if (community is None) != (role is None):
        raise AccessInvalid("--community and --role go together.")
    settings = state(ctx).settings()
    password = _read_password(password_stdin)

    async def run(session: AsyncSession) -> int:
        user = await create_local_user(
            session, name, password, display_name=display_name, instance_admin=instance_admin
        )
        if community is not None and role is not None:
            community_id = (await get_community(session, community)).id
            await set_role(session, community_id, user.id, role)
            await _audit_role(session, community_id, user.id, role)
        return user.id

    user_id = _in_transaction(settings, run)
    granted = f", {role.value} of {community}" if role is not None else ""
    kind = "instance admin" if instance_admin else "user"
    out_console.print(f"Created {kind} {name!r} (id {user_id}){granted}.")


@admin_app.command("grant-role")
def grant_role(
    ctx: typer.Context,
    who: Annotated[
        str,
        typer.Argument(
            metavar="NAME",
            help="A local user's name, or discord:<user id> / line:<user id> (such a user "
            "is created now and completed at their first sign-in).",
        ),
    ],
    community: Annotated[str, typer.Argument(help="The community's slug or id.")],
    role: RoleName,
) -> None:
    """Give someone a role in a community (replacing the role they had there).

    Roles granted here are "manual": a Discord role re-check never removes them.
    """
    settings = state(ctx).settings()

    async def run(session: AsyncSession) -> int:
        community_id = (await get_community(session, community)).id
        user_id = await _find_user(session, who)
        await set_role(session, community_id, user_id, role)
        await _audit_role(session, community_id, user_id, role)
        return user_id

    user_id = _in_transaction(settings, run)
    out_console.print(f"{who} (user {user_id}) is now {role.value} of {community}.")


@token_app.command("create")
def token_create(
    ctx: typer.Context,
    community: Annotated[str, typer.Argument(help="The community's slug or id.")],
    name: Annotated[str, typer.Argument(help="What the token is for (shown in lists).")],
    permission: Annotated[
        list[Permission],
        typer.Option(
            "--permission",
            "-p",
            case_sensitive=False,
            help="read, grant or configure; repeat for several.",
        ),
    ],
    expires_days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
) -> None:
    """Issue an API token; it is printed once, alone on stdout, and never again."""
    settings = state(ctx).settings()
    expires_at = datetime.now(UTC) + timedelta(days=expires_days) if expires_days else None

    async def run(session: AsyncSession) -> tuple[str, int, str]:
        community_id = (await get_community(session, community)).id
        new = await create_api_token(
            session, community_id, name, permission, created_by=None, expires_at=expires_at
        )
        await record(
            session,
            cli_actor(),
            community_id,
            "access.token.create",
            "api_token",
            str(new.details.id),
            None,
            new.details.model_dump(mode="json"),
            None,
        )
        return new.token, new.details.id, new.details.prefix

    token, token_id, prefix = _in_transaction(settings, run)
    err_console.print(
        f"API token {token_id} ({prefix}…) for {community}: "
        f"{', '.join(sorted(p.value for p in permission))}. Store it now; it is not shown again."
    )
    sys.stdout.write(token + "\n")


async def _audit_role(session: AsyncSession, community_id: int, user_id: int, role: Role) -> None:
    """The same audit entry the admin API writes for a role change."""
    await record(
        session,
        cli_actor(),
        community_id,
        "access.role.set",
        "user",
        str(user_id),
        None,
        {"role": role.value},
        None,
    )


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise AccessInvalid("--password-stdin: stdin's first line is empty.")
        return password
    value: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


async def _find_user(session: AsyncSession, who: str) -> int:
    provider, _, subject = who.partition(":")
    if subject and provider in {"discord", "line"}:
        return await user_for_identity(session, provider, subject, f"{provider} user {subject}")
    user_id = await session.scalar(
        select(UserIdentity.user_id).where(
            UserIdentity.provider == "local", UserIdentity.subject == who
        )
    )
    if user_id is None:
        raise NotFound(f"No local user named {who!r} (see `townsquare admin create`).")
    return int(user_id)


def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one committed transaction (the command is the unit of work)."""

    async def run(url: str) -> T:
        engine = create_db_engine(url, settings.database)
        try:
            async with create_session_factory(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    with sigterm_unwinds(), open_database(settings, attach=True) as location:
        prepare_schema(settings, location, apply=False)
        return asyncio.run(run(location.url))
