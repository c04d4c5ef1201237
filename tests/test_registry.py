"""The closed table every family uses (data sources, training kinds, samplers, evaluations).

Which names each family holds is a contract with the spec language: tests/test_structure.py.
"""

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
