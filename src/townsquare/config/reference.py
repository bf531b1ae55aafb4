"""The configuration reference (docs/configuration.md), generated from the settings model so
it cannot drift from what the code reads. A test fails when the file is out of date;
``python -m townsquare.config.reference > docs/configuration.md`` regenerates it."""

from __future__ import annotations

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from townsquare.config.settings import ENV_PREFIX, Settings


def render_reference() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from townsquare.config.settings; do not edit by hand. -->",
        "",
        "Every setting can be given as an environment variable or in a TOML file passed with",
        "`townsquare --config FILE` (or `TOWNSQUARE_CONFIG=FILE`). Environment variables win",
        "over the file. Unknown keys in the file are errors.",
        "",
        "```toml",
        "[database]",
        'url = "postgresql://townsquare:secret@db.internal:5432/townsquare"',
        "pool_size = 20",
        "",
        "[log]",
        'format = "json"',
        "```",
    ]
    for section_name, section_field in Settings.model_fields.items():
        model = section_field.default_factory() if section_field.default_factory else None  # type: ignore[call-arg]
        assert isinstance(model, BaseModel)
        lines += ["", f"## `[{section_name}]`", "", (type(model).__doc__ or "").strip(), ""]
        lines += ["| Setting | Environment variable | Default | Meaning |", "|---|---|---|---|"]
        for name, field in type(model).model_fields.items():
            env = f"{ENV_PREFIX}{section_name}_{name}".upper()
            default = _default(section_name, name, field.default)
            lines.append(f"| `{name}` | `{env}` | {default} | {field.description or ''} |")
    return "\n".join(lines) + "\n"


def _default(section: str, name: str, value: object) -> str:
    if (section, name) == ("embedded", "data_dir"):
        return "the user data directory + `/townsquare/postgres`"
    if (section, name) == ("pipeline", "spool_dir"):
        return "the user data directory + `/townsquare/spool`"
    if value is PydanticUndefined or value is None:
        return "(none)"
    return f"`{value}`"


if __name__ == "__main__":
    print(render_reference(), end="")
