"""Data files that ship inside the package: the layer catalogue and the spec's JSON Schema.

Read through `importlib.resources`, so a wheel install finds them wherever it
lives; `builder catalogue` and `builder schema` regenerate them (tests fail on
drift). `schemas/spec.schema.json` at the top of a checkout is a copy for
editors, kept equal to the packaged one by `builder schema`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

CATALOGUE = "keras_layers.json"
SPEC_SCHEMA = "spec.schema.json"


def read_text(name: str) -> str:
    """The packaged file `name`, as text."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def source_path(name: str) -> Path:
    """Where the generators write `name`: this folder (in a checkout, the tracked file)."""
    return Path(__file__).resolve().parent / name


def checkout_schema_path() -> Path | None:
    """The top-level `schemas/spec.schema.json` for editors, when running from a checkout."""
    root = Path(__file__).resolve().parents[2]
    in_checkout = (root / "pyproject.toml").is_file() and (root / "schemas").is_dir()
    return root / "schemas" / SPEC_SCHEMA if in_checkout else None
