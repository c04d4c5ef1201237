"""Shared helpers for tests: run the stages on spec text written to a temporary file."""

from __future__ import annotations

import textwrap
from pathlib import Path

from builder.graph import resolve
from builder.graph.ir import Graph
from builder.language.loader import load
from builder.language.parser import parse


def write_spec(folder: Path, text: str, name: str = "spec.yaml") -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def iris_mlp(epochs: int = 40, batch_size: int = 16) -> str:
    """A spec that trains in seconds: a 16-unit MLP on scikit-learn's iris (embedded), seed 3."""
    return f"""
name: iris-mlp
inputs: {{features: {{shape: [4]}}}}
layers:
  - {{id: hidden, type: Dense, units: 16, activation: relu}}
  - {{id: probs, type: Dense, units: 3, activation: softmax}}
train:
  data: {{source: builtin, name: iris}}
  optimizer: {{type: adam, learning_rate: 0.02}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: {epochs}
  batch_size: {batch_size}
  seed: 3
"""


def graph_of(folder: Path, text: str, overrides: dict | None = None) -> Graph:
    """load -> parse -> resolve on `text`."""
    document = load(write_spec(folder, text))
    return resolve(parse(document), document, overrides)


def build(folder: Path, text: str, overrides: dict | None = None):
    """load -> parse -> resolve -> compile on `text`; returns (graph, models)."""
    from builder.model.compile import compile_graph

    graph = graph_of(folder, text, overrides)
    return graph, compile_graph(graph)
