from pathlib import Path

from townsquare.config.reference import render_reference
from townsquare.config.settings import Settings

DOC = Path(__file__).parents[2] / "docs" / "configuration.md"


def test_configuration_reference_is_current() -> None:
    assert DOC.read_text() == render_reference(), (
        "docs/configuration.md is stale: python -m townsquare.config.reference > "
        "docs/configuration.md"
    )


def test_reference_names_every_environment_variable() -> None:
    text = render_reference()
    for section, field in Settings.model_fields.items():
        assert field.annotation is not None
        for name in field.annotation.model_fields:
            assert f"TOWNSQUARE_{section}_{name}".upper() in text
