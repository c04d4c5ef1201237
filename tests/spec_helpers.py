"""Shared helpers for tests: run the stages on spec text written to a temporary file."""

from __future__ import annotations

import textwrap
from pathlib import Path

from builder.graph import load_graph
from builder.graph.ir import Graph

TESTS = Path(__file__).resolve().parent          # tests/: good_specs/, bad_specs/
ROOT = TESTS.parent                               # the checkout
SPECS = ROOT / "specs"                            # the spec library


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
    return load_graph(write_spec(folder, text), overrides)


def build(folder: Path, text: str, overrides: dict | None = None):
    """load -> parse -> resolve -> compile on `text`; returns (graph, models)."""
    from builder.model.compile import compile_graph

    graph = graph_of(folder, text, overrides)
    return graph, compile_graph(graph)


# --- a tiny search: seconds per trial ------------------------------------------------------------------

TINY_SEARCH = """\
name: tiny
params: {width: 8}
inputs: {x: {shape: [4]}}
layers:
  - {id: hidden, type: Dense, units: "${width}", activation: relu}
  - {id: out, type: Dense, units: 3, activation: softmax}
train:
  data: {source: builtin, name: iris}
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 2
  batch_size: 16
  seed: 0
search:
SEARCH
"""

SEARCH_SPACE = """\
  space:
    params.width: {type: int, low: 4, high: 16, step: 4}
    train.optimizer.learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
    layers.hidden.activation: {type: choice, values: [relu, tanh]}
"""


def write_search_spec(tmp_path: Path, search: str = SEARCH_SPACE, name: str = "tiny.yaml") -> Path:
    """A 3-layer MLP on iris, 2 epochs per trial, with `search` as its search section."""
    path = tmp_path / name
    path.write_text(TINY_SEARCH.replace("SEARCH\n", search))
    return path


ENCODER_DECODER = """
name: s2s
inputs:
  source: {shape: [null], dtype: int32}
  target: {shape: [null], dtype: int32}
layers:
  - {id: source_embed, type: Embedding, input_dim: 50, output_dim: 8, inputs: source}
  - {id: encoder, type: LSTM, units: 16, return_state: true}
  - {id: target_embed, type: Embedding, input_dim: 50, output_dim: 8, inputs: target}
  - {id: decoder, type: DECODER, units: 16, return_sequences: true, inputs: {sequences: target_embed, initial_state: STATES}}
  - {id: out, type: Dense, units: 50, activation: softmax}
"""


def encoder_decoder(decoder: str, states: str) -> str:
    """A seq2seq spec whose LSTM encoder returns its states; the decoder's type and `initial_state` as given."""
    return ENCODER_DECODER.replace("DECODER", decoder).replace("STATES", states)
