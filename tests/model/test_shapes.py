"""Shapes without weights (builder.model.shapes): the Keras-free pass and Keras' symbolic build each give
exactly the shapes and parameter counts of a real build, over the whole spec library, and neither gives a
single variable a value; a spec Keras refuses is never drawn from the pass's guesses."""

from __future__ import annotations

import pytest

keras = pytest.importorskip("keras")

from spec_helpers import SPECS, graph_of  # noqa: E402

from builder.errors import SpecError  # noqa: E402
from builder.graph import load_graph  # noqa: E402
from builder.model.compile import compile_graph  # noqa: E402
from builder.model.shapes import from_estimate, from_keras, shapes_without_weights  # noqa: E402

LIBRARY = sorted(SPECS.rglob("*.yaml"))


def count_values(monkeypatch) -> list:
    """From now on, the paths of the variables given a value (an allocated tensor), as they are given."""
    given = []
    for name in ("_initialize", "_initialize_with_initializer"):
        original = getattr(keras.Variable, name)
        monkeypatch.setattr(keras.Variable, name,
                            lambda self, value, _original=original: given.append(self.path) or _original(self, value))
    return given


@pytest.fixture
def values_given(monkeypatch):
    return count_values(monkeypatch)


def small_graph(path):
    """The spec at its `small:` sizes (the specs without that section are small already)."""
    return load_graph(str(path), small="\nsmall:" in path.read_text())


def test_the_library_is_all_here():
    assert len(LIBRARY) > 30
    assert SPECS / "resnet50.yaml" in LIBRARY and SPECS / "transfer" / "digits_0to4.yaml" in LIBRARY


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(SPECS)))
def test_both_paths_give_the_built_models_shapes_and_counts(path, monkeypatch):
    graph = small_graph(path)
    built = compile_graph(graph)   # with weights: what a user trains
    found = from_estimate(graph)
    assert found is not None and found.source == "estimate", "the Keras-free pass should follow every library node"
    assert found.shapes == built.shapes and found.params == built.params
    given = count_values(monkeypatch)
    symbolic = from_keras(graph)
    assert symbolic.source == "keras" and symbolic.shapes == built.shapes and symbolic.params == built.params
    assert given == [], f"variables given values: {given[:5]}"


def test_a_layer_the_pass_cannot_follow_comes_from_keras_with_no_variable_given_a_value(tmp_path, values_given):
    graph = graph_of(tmp_path, """
        inputs: {x: {shape: [4, 8]}}
        layers:
          - {id: mixed, type: EinsumDense, equation: "abc,cd->abd", output_shape: [4, 3], bias_axes: d}
          - {id: after, type: Dense, units: 2}
    """)
    assert from_estimate(graph) is None   # EinsumDense has no rule
    found = shapes_without_weights(graph)
    assert found.source == "keras" and values_given == []
    assert found.shapes["spec"] == {"x": (None, 4, 8), "mixed": (None, 4, 3), "after": (None, 4, 2)}
    assert found.params["spec"] == {"mixed": 8 * 3 + 3, "after": 3 * 2 + 2}


def test_open_sizes_are_filled_alike_on_both_paths(tmp_path):
    graph = graph_of(tmp_path, """
        inputs: {tokens: {shape: [null], dtype: int32}}
        layers:
          - {id: embed, type: Embedding, input_dim: 50, output_dim: 8}
          - {id: conv, type: Conv1D, filters: 4, kernel_size: 3}
          - {id: rnn, type: LSTM, units: 5, return_sequences: true, return_state: true}
    """)
    assert from_estimate(graph).shapes == from_keras(graph).shapes   # the length open on both
    assert from_estimate(graph).shapes["spec"]["conv"] == (None, None, 4)
    sizes = {"spec": {"tokens": (12,)}}
    filled = from_estimate(graph, sizes)
    assert filled.shapes == from_keras(graph, sizes).shapes
    assert filled.shapes["spec"]["conv"] == (None, 10, 4) and filled.shapes["spec"]["rnn"] == [(None, 10, 5), (None, 5),
                                                                                                 (None, 5)]
    assert graph.models["spec"].nodes["tokens"].args["shape"] == [None]   # the graph itself is left as it was


def test_nothing_is_refused_for_its_size_since_nothing_is_allocated(tmp_path, values_given):
    graph = graph_of(tmp_path, """
        inputs: {x: {shape: [224, 224, 64]}}
        layers:
          - {type: Flatten}
          - {id: fc, type: Dense, units: 65536}
          - {id: mixed, type: EinsumDense, equation: "ab,bc->ac", output_shape: 4}
    """)
    assert from_keras(graph).params["spec"]["fc"] == 224 * 224 * 64 * 65536 + 65536   # 210 G: a build refuses it
    assert values_given == []


# Mistakes Keras refuses where the pass, left to itself, could guess a shape: it leaves them to Keras,
# so a drawing or a cost never shows shapes a build would not give.
REFUSED = {
    "add": ("inputs: {a: {shape: [3]}, b: {shape: [4]}}\nlayers:\n  - {id: n, type: Add, inputs: [a, b]}",
            "node 'n' (Add) cannot take input (None, 3) from 'a', (None, 4) from 'b'"),
    "multiply": ("inputs: {a: {shape: [4, 3]}, b: {shape: [5, 3]}}\nlayers:\n"
                 "  - {id: n, type: Multiply, inputs: [a, b]}",
                 "node 'n' (Multiply) cannot take input (None, 4, 3) from 'a', (None, 5, 3) from 'b'"),
    "concatenate": ("inputs: {a: {shape: [4, 3]}, b: {shape: [5, 3]}}\nlayers:\n"
                    "  - {id: n, type: Concatenate, inputs: [a, b]}",
                    "node 'n' (Concatenate) cannot take input (None, 4, 3) from 'a', (None, 5, 3) from 'b'"),
    "concatenate_axis": ("inputs: {x: {shape: [4, 3]}}\nlayers:\n"
                         "  - {id: n, type: Concatenate, axis: -4, inputs: [x, x]}",
                         "node 'n' (Concatenate): axis -4 is out of range for an input of rank 3"),
    "reshape": ("inputs: {x: {shape: [4, 3]}}\nlayers:\n  - {id: n, type: Reshape, target_shape: [5, 2]}",
                "node 'n' (Reshape) cannot take input (None, 4, 3) from 'x'"),
    "reshape_open": ("inputs: {x: {shape: [4, 3]}}\nlayers:\n  - {id: n, type: Reshape, target_shape: [-1, 5]}",
                     "node 'n' (Reshape) cannot take input (None, 4, 3) from 'x'"),
    "groups": ("inputs: {x: {shape: [8, 8, 3]}}\nlayers:\n"
               "  - {id: n, type: Conv2D, filters: 4, kernel_size: 3, groups: 2}",
               "node 'n' (Conv2D) cannot take input (None, 8, 8, 3) from 'x': The number of input channels must be"),
    "rank": ("inputs: {x: {shape: [64]}}\nlayers:\n  - {id: n, type: Conv2D, filters: 8, kernel_size: 3}",
             "node 'n' (Conv2D) expects a 4-D input, got (None, 64) from 'x'"),
    "shrink": ("inputs: {x: {shape: [2, 2, 3]}}\nlayers:\n  - {id: n, type: Conv2D, filters: 4, kernel_size: 5}",
               "node 'n' (Conv2D) shrinks a dimension to zero or less"),
}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_spec_keras_refuses_is_left_to_keras_which_says_where(tmp_path, name):
    text, message = REFUSED[name]
    graph = graph_of(tmp_path, text)
    assert from_estimate(graph) is None
    with pytest.raises(SpecError) as info:
        shapes_without_weights(graph)
    [problem] = info.value.problems
    assert problem.location.line == 3 and message in problem.message


def test_pretrained_weights_are_not_downloaded_for_shapes(tmp_path, monkeypatch, values_given):
    def offline(*args, **kwargs):
        raise AssertionError("downloaded")

    monkeypatch.setattr("keras.src.utils.file_utils.get_file", offline)   # what keras.applications call
    graph = graph_of(tmp_path, """
        inputs: {image: {shape: [32, 32, 3]}}
        layers:
          - {id: base, type: Application, architecture: MobileNetV3Small, weights: imagenet, pooling: avg}
          - {id: head, type: Dense, units: 3}
    """)
    found = shapes_without_weights(graph)
    assert found.source == "keras" and values_given == []
    assert found.shapes["spec"]["base"] == (None, 576) and found.params["spec"]["head"] == 576 * 3 + 3
