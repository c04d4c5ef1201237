"""The search section without Keras: paths name where values go, concrete specs are ordinary specs, and
validate and render see the search space (`builder.graph.search_space`)."""

from __future__ import annotations

from click.testing import CliRunner
from spec_helpers import SEARCH_SPACE, SPECS, write_search_spec

from builder.cli import main
from builder.graph import load_graph, search_space
from builder.language.loader import load_text
from builder.language.parser import parse

BLOCKS = """\
name: blocks
params: {width: 8}
blocks:
  pair:
    params: {units: 4}
    layers:
      - {id: a, type: Dense, units: "${units}"}
inputs: {x: {shape: [4]}}
layers:
  - {id: stack, block: pair, repeat: 1, with: {units: "${width}"}}
  - {id: out, type: Dense, units: 3}
train:
  optimizer: adam
  data: {source: csv, path: data/table.csv, label: y}
search:
  space:
    layers.stack.repeat: {type: int, low: 1, high: 3}
    layers.stack.units: {type: choice, values: [4, 8]}
    blocks.pair.layers.a.activation: {type: choice, values: [relu, tanh]}
    train.optimizer.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""


def test_paths_name_where_values_go_and_a_trial_spec_is_an_ordinary_spec(tmp_path):
    document = load_text(BLOCKS, str(tmp_path / "blocks.yaml"))
    spec = parse(document)
    found, problems = search_space.targets(spec, document)
    assert not problems
    assert found["layers.stack.repeat"].at == ("layers", 0, "repeat")
    assert found["layers.stack.units"].at == ("layers", 0, "with", "units")
    assert found["blocks.pair.layers.a.activation"].at == ("blocks", "pair", "layers", 0, "activation")
    assert found["train.optimizer.learning_rate"].at == ("train", "optimizer", "learning_rate")
    values = {"layers.stack.repeat": 3, "layers.stack.units": 8, "blocks.pair.layers.a.activation": "tanh",
              "train.optimizer.learning_rate": 0.002}
    data = search_space.concrete(document.data, values, found, spec_dir=tmp_path)
    assert "search" not in data and "search" in document.data      # the original is untouched
    assert data["train"]["optimizer"] == {"type": "adam", "learning_rate": 0.002}   # `adam` became a mapping
    assert data["train"]["data"]["path"] == str(tmp_path / "data" / "table.csv")     # trains from any folder
    text = search_space.dump(data, "a header")
    assert text.startswith("# a header\n")
    again = load_text(text, "trial.yaml")
    assert again.data == data            # the text reads back to the same values
    graph = load_graph(again)
    assert [n for n in graph.models["blocks"].nodes] == ["x", "stack_1.a", "stack_2.a", "stack_3.a", "out"]
    optimizer = search_space.target(document.data, "train.optimizer.type")
    assert search_space.concrete(document.data, {"o": "sgd"}, {"o": optimizer})["train"]["optimizer"] == \
        {"type": "sgd"}


def test_a_dumped_spec_reads_back_the_same_under_yaml_1_2():
    """Text that YAML 1.2 would read as a number, boolean or null is quoted; numbers stay numbers."""
    data = {"texts": ["1e-3", "yes", "no", "010", "0o17", "null", "", " x", "${a * 2}", "relu"],
            "numbers": [1e-3, 3, 2.5e-10, True, None]}
    assert load_text(search_space.dump(data), "x.yaml").data == data


def test_the_search_section_is_checked_by_validate(tmp_path):
    path = write_search_spec(tmp_path, SEARCH_SPACE + "    params.widht: {type: int, low: 1, high: 2}\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:20:5: error: search path 'params.widht': the spec has no parameter 'widht'" in result.stderr
    assert "did you mean 'width'?" in result.stderr


def test_render_search_marks_the_nodes_a_search_changes(tmp_path):
    out = tmp_path / "lenet.dot"
    result = CliRunner().invoke(main, ["render", str(SPECS / "lenet_search.yaml"), "--search", "--no-shapes",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    dot = out.read_text()
    assert r"c1 : Conv2D\nsearch $\{c1\}: 4..16 step 2" in dot
    assert r"search repeat: 1..3" in dot and r"search $\{f6\}: 32..128 step 16" in dot
    assert "train.optimizer.learning_rate: 0.0003..0.01 log" in dot      # a setting of no node: the note


def test_every_library_spec_with_a_search_section_resolves_at_both_ends_of_its_ranges():
    graph = load_graph(str(SPECS / "lenet_search.yaml"), {})
    assert graph.spec.search is not None and len(graph.spec.search.space) == 6


