"""parse on its own: loaded data -> `Spec`, or every problem at once, located, in the order of the file."""

from __future__ import annotations

import pytest

from builder.errors import SpecError
from builder.language import load_text, parse
from builder.language.spec import BlockNode, LayerNode

MISTAKES = """\
name: mistakes
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, units: "8"}
  - {type: Dence, units: 3}
  - {id: out, type: Dense, units: 3, activaton: relu}
outputs: [out]
train:
  loss: mean_squared_error
  augment: [{type: MixUp}]
  epocs: 3
"""


def test_a_spec_parses_into_typed_nodes_that_keep_their_layer_arguments():
    text = """\
name: ok
inputs: {x: {shape: [4]}}
blocks:
  pair: {layers: [{type: Dense, units: 4}, {type: Dense, units: 4}]}
layers:
  - {id: h, type: Dense, units: 8, activation: relu}
  - {block: pair, repeat: 2}
"""
    spec = parse(load_text(text, "ok.yaml"))
    first, second = spec.layers
    assert isinstance(first, LayerNode) and (first.id, first.type) == ("h", "Dense")
    assert first.args == {"units": 8, "activation": "relu"}
    assert isinstance(second, BlockNode) and (second.block, second.repeat) == ("pair", 2)


def test_every_problem_is_reported_at_once_in_file_order_with_a_hint():
    with pytest.raises(SpecError) as caught:
        parse(load_text(MISTAKES, "mistakes.yaml"))
    found = [(p.location.line, p.location.column, p.message, p.hint) for p in caught.value.problems]
    assert found == [
        (4, 26, "expected a positive integer. Received: units='8'", "remove the quotes to write a number"),
        (5, 12, "unknown layer type 'Dence'", "did you mean 'Dense'?"),
        (6, 38, "Dense has no argument 'activaton'", "did you mean 'activation'?"),
        (10, 20, "MixUp mixes class labels; this run's loss is not a classification loss. "
                 "Received: loss='mean_squared_error'",
         "use loss: sparse_categorical_crossentropy (integer labels) or categorical_crossentropy (one-hot rows), "
         "or give none"),
        (11, 3, "unknown key 'epocs'", "did you mean 'epochs'?"),
    ]


def test_a_label_mixer_with_a_class_loss_parses():
    text = MISTAKES.replace('"8"', "8").replace("Dence", "Dense").replace("activaton", "activation")
    text = text.replace("mean_squared_error", "sparse_categorical_crossentropy").replace("epocs", "epochs")
    spec = parse(load_text(text, "fixed.yaml"))
    assert [node.type for node in spec.train.augment] == ["MixUp"] and spec.train.epochs == 3


def test_keras_loss_and_metric_aliases_parse_into_the_names_they_stand_for():
    text = """\
inputs: {x: {shape: [4]}}
layers: [{type: Dense, units: 1}]
train: {loss: mse, metrics: [mae, MSE, bce, accuracy]}
"""
    train = parse(load_text(text, "aliases.yaml")).train
    assert train.loss == "mean_squared_error"   # what the run compiles, logs and records
    assert train.metrics == ["mean_absolute_error", "mean_squared_error", "binary_crossentropy", "accuracy"]
    by_output = parse(load_text(text.replace("loss: mse", "loss: {out: MAPE}"), "by_output.yaml")).train
    assert by_output.loss == {"out": "mean_absolute_percentage_error"}


def test_an_unknown_loss_names_the_closest_and_lists_the_names():
    text = "inputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 1}]\ntrain: {loss: msee}\n"
    with pytest.raises(SpecError) as caught:
        parse(load_text(text, "msee.yaml"))
    (problem,) = caught.value.problems
    assert (problem.location.line, problem.location.column) == (3, 15)
    assert problem.message.startswith("expected one of") and "Received: loss='msee'" in problem.message
    assert problem.hint.startswith("did you mean 'mse'? the names: bce, binary_crossentropy, ")
    assert "mean_squared_error" in problem.hint and "MSE" not in problem.hint   # upper-case twins left out
