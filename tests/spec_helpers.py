"""Shared helpers for tests: run the stages on spec text written to a temporary file."""

from __future__ import annotations

import textwrap
from pathlib import Path

from builder.load import load
from builder.parse import parse
from builder.resolve import Graph, resolve


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def graph_of(folder: Path, text: str, overrides: dict | None = None) -> Graph:
    """load -> parse -> resolve on `text`."""
    document = load(write_spec(folder, text))
    return resolve(parse(document), document, overrides)


def build(folder: Path, text: str, overrides: dict | None = None):
    """load -> parse -> resolve -> compile on `text`; returns (graph, models)."""
    from builder.compile import compile_graph

    graph = graph_of(folder, text, overrides)
    return graph, compile_graph(graph)
