"""The closed tables that name data sources, training kinds and samplers."""

from __future__ import annotations

import pytest

from builder.registry import Registry


def test_a_decorator_fills_the_table_where_the_function_is_defined():
    formats = Registry("format")

    @formats.register("csv")
    def read_csv(path):
        return f"csv:{path}"

    assert formats["csv"] is read_csv and read_csv("a") == "csv:a"
    assert list(formats) == ["csv"]


def test_a_name_registered_twice_is_refused():
    formats = Registry("format")
    formats.register("csv")(lambda path: path)
    with pytest.raises(ValueError, match="format 'csv' is registered twice"):
        formats.register("csv")(lambda path: path)


def test_every_family_is_a_registry_and_the_kinds_have_their_samplers():
    from builder.runs.generate import SAMPLERS
    from builder.training.data import SOURCES
    from builder.training.kinds import KINDS

    assert all(isinstance(table, Registry) for table in (SOURCES, KINDS, SAMPLERS))
    assert {"builtin", "csv", "numpy", "images", "text", "keras", "synthetic", "corpus"} <= set(SOURCES)
    # every kind except plain supervised training can be sampled with `builder generate`
    assert set(KINDS) - {"supervised"} == set(SAMPLERS)
