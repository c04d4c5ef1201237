"""`--set` by dotted path (`builder.graph.overrides`): any value of a spec, addressed as a `search:` dimension
is, placed before parse, so it is checked and located like the spec; a path that names nothing suggests the
closest one."""

from __future__ import annotations

import pytest
from spec_helpers import write_spec

from builder.errors import SpecError
from builder.graph import load_graph, search_space
from builder.language.loader import load

SPEC = """\
name: net
params: {width: 8}
blocks:
  pair:
    params: {units: 4}
    layers:
      - {id: a, type: Dense, units: "${units}"}
inputs: {x: {shape: [4]}}
layers:
  - {id: stack, block: pair, with: {units: "${width}"}}
  - {id: hidden, type: Dense, units: 16, activation: relu}
  - {id: out, type: Dense, units: 3, activation: softmax}
train:
  data: {source: builtin, name: iris}
  optimizer: {type: adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  epochs: 10
"""


def problems_of(tmp_path, overrides: dict) -> list:
    with pytest.raises(SpecError) as caught:
        load_graph(write_spec(tmp_path, SPEC), overrides)
    return caught.value.problems


def test_a_dotted_set_changes_layer_arguments_block_parameters_and_train_settings(tmp_path):
    overrides = {"layers.hidden.units": 64, "train.epochs": 3, "train.optimizer.learning_rate": 1e-4,
                 "layers.stack.units": 5, "train.seed": 7, "width": 6}
    graph = load_graph(write_spec(tmp_path, SPEC), overrides)
    nodes = graph.models["net"].nodes
    assert nodes["hidden"].args["units"] == 64
    assert nodes["stack.a"].args["units"] == 5                 # the block instance's `with`, over `${width}`
    train = graph.spec.train
    assert (train.epochs, train.optimizer.learning_rate, train.seed) == (3, 1e-4, 7)   # seed: not in the file
    assert graph.params["width"] == 6                          # a bare name is still a spec parameter
    assert graph.overrides == overrides                        # what a run records in run.json
    assert "units: 16" in (tmp_path / "spec.yaml").read_text()   # the file is never touched


def test_a_bad_value_is_reported_at_the_line_it_replaced_naming_the_set(tmp_path):
    first, second = problems_of(tmp_path, {"train.epochs": 0, "layers.hidden.units": "many"})
    assert (first.location.line, first.location.column) == (11, 38)   # hidden's `units: 16`
    assert first.message == "expected a positive integer. Received: units='many'"
    assert first.hint == "the value comes from --set layers.hidden.units=many"   # no "remove the quotes"
    assert (second.location.line, second.message) == (17, "expected a number >= 1. Received: epochs=0")
    assert second.hint == "the value comes from --set train.epochs=0"


def test_a_bad_value_for_a_key_the_spec_leaves_out_is_located_at_its_section(tmp_path):
    (problem,) = problems_of(tmp_path, {"train.seed": -1})
    assert (problem.location.line, problem.location.column) == (14, 3)   # where `train:`'s mapping starts
    assert "seed=-1" in problem.message
    assert problem.hint == "the value comes from --set train.seed=-1"


@pytest.mark.parametrize(("path", "message", "hint"), [
    ("train.epoch", "--set train.epoch: train has no setting 'epoch'", "did you mean 'train.epochs'?"),
    ("trian.epochs", "--set trian.epochs: a dotted name is a path into the spec, starting with params, layers, "
                     "models, blocks, train", "did you mean 'train.epochs'?"),
    ("layers.hiden.units", "--set layers.hiden.units: no node 'hiden' in layers",
     "did you mean 'layers.hidden.units'?"),
    ("layers.hidden.unit", "--set layers.hidden.unit: Dense has no argument 'unit'",
     "did you mean 'layers.hidden.units'?"),
    ("train.optimizer.learning_rat", "--set train.optimizer.learning_rat: optimizer 'adam' has no argument "
                                     "'learning_rat'", "did you mean 'train.optimizer.learning_rate'?"),
])
def test_a_path_that_names_nothing_suggests_the_closest_whole_path(tmp_path, path, message, hint):
    problems = problems_of(tmp_path, {path: 3, "train.epochs": 0})
    assert (problems[0].message, problems[0].hint) == (message, hint)
    assert problems[0].location.file.endswith("spec.yaml") and problems[0].location.line == 0
    assert "epochs=0" in problems[1].message   # the other overrides are still applied and checked


def test_a_search_trial_spec_takes_dotted_overrides_before_the_trial_values(tmp_path):
    document = load(write_spec(tmp_path, SPEC))
    found = {"lr": search_space.target(document.data, "train.optimizer.learning_rate")}
    data = search_space.concrete(document.data, {"lr": 0.5}, found,
                                 {"train.epochs": 2, "width": 5, "train.optimizer.learning_rate": 0.1})
    assert data["train"]["epochs"] == 2 and data["params"]["width"] == 5
    assert data["train"]["optimizer"]["learning_rate"] == 0.5   # the trial's value wins


# --- `small:` and --small: the spec's own version that trains on a CPU in minutes ---------------------------------

SMALL = SPEC.replace("params: {width: 8}\n", "params: {width: 8}\nsmall: {width: 2}\n")


def test_small_starts_from_the_spec_small_values_and_a_set_still_wins(tmp_path):
    path = write_spec(tmp_path, SMALL)
    assert load_graph(path).overrides == {}
    graph = load_graph(path, small=True)
    assert graph.overrides == {"width": 2}   # recorded like a --set, so a run's resume keeps it
    assert graph.models["net"].nodes["stack.a"].args["units"] == 2
    assert load_graph(path, {"width": 5}, small=True).models["net"].nodes["stack.a"].args["units"] == 5


def test_small_names_only_parameters_and_is_located(tmp_path):
    with pytest.raises(SpecError) as caught:
        load_graph(write_spec(tmp_path, SMALL.replace("small: {width: 2}", "small: {widht: 2}")))
    [problem] = caught.value.problems
    assert (problem.location.line, problem.message) == (3, "small: the spec has no parameter 'widht'")
    assert problem.hint == "did you mean 'width'?"


def test_small_on_a_spec_without_one_says_how_to_add_it(tmp_path):
    with pytest.raises(SpecError, match="--small: this spec has no `small:` section"):
        load_graph(write_spec(tmp_path, SPEC), small=True)
