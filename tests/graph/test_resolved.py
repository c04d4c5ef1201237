"""`builder resolve`: the spec the compiler sees, each value marked with where it came from; itself a spec that
builds the same model, over the whole spec library."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner
from spec_helpers import SPECS, write_spec

from builder.cli import main
from builder.graph import load_graph, search_space
from builder.graph.diff import compare
from builder.graph.resolved import _defaults, open_spec, resolve_spec
from builder.language import load, parse

LIBRARY = sorted(SPECS.glob("*.yaml")) + sorted(SPECS.glob("*/*.yaml"))

BLOCKS = """
    name: blocks
    params: {width: 8, drop: 0.1}
    small: {width: 4}
    inputs: {x: {shape: [16]}}
    blocks:
      unit:
        params: {units: null, rate: 0.0}
        layers:
          - {id: dense, type: Dense, units: "${units * 2}", activation: relu}
          - {id: dropout, type: Dropout, rate: "${rate}"}
      pair:
        params: {units: null}
        layers:
          - {id: inner, block: unit, with: {units: "${units}"}}
    layers:
      - {id: stage, block: unit, repeat: 3, with: {units: "${width}"}, per_repeat: [{rate: 0.5}]}
      - {id: nested, block: pair, with: {units: 3}}
      - {id: frozen, block: unit, with: {units: 2, rate: "${drop * 2}"}, trainable: false}
      - {id: skipped, type: Dense, units: 99, when: false}
      - {id: out, type: Dense, units: 2}
    train:
      data: {source: builtin, name: iris}
      epochs: 3
"""


def resolved_text(path, overrides=None, small=False, defaults=False) -> str:
    return resolve_spec(open_spec(path, overrides, small), defaults).yaml()


def comment(text: str, start: str) -> str:
    """The comment of the first line that starts with `start` (after its indentation)."""
    line = next(line for line in text.splitlines() if line.strip().startswith(start))
    return line.split(" # ", 1)[1]


def same_graph(a, b, defaults: bool = False) -> None:
    assert list(a.models) == list(b.models)
    for name, model in a.models.items():
        other = b.models[name]
        assert list(model.inputs) == list(other.inputs) and model.outputs == other.outputs
        assert set(model.nodes) == set(other.nodes), set(model.nodes) ^ set(other.nodes)
        for node_id, node in model.nodes.items():
            twin = other.nodes[node_id]
            args = {**_defaults(node.type), **node.args} if defaults and node.op == "layer" else node.args
            assert (node.op, node.type, args, node.inputs, node.kwargs, node.call) == \
                (twin.op, twin.type, twin.args, twin.inputs, twin.kwargs, twin.call), node_id


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(SPECS)))
def test_the_resolved_spec_builds_the_same_graph(path, tmp_path):
    """resolve -> load_graph of its output gives the same node ids, types, arguments, inputs and outputs (the
    specs' `small:` versions; --defaults too), and `builder diff` finds no difference."""
    small = load(path).data.get("small") is not None
    graph = open_spec(path, small=small).graph
    for defaults in (False, True):
        copy = write_spec(tmp_path, resolved_text(path, small=small, defaults=defaults), f"{defaults}.yaml")
        same_graph(graph, load_graph(copy), defaults)
        difference = compare(open_spec(path, small=small), open_spec(copy))
        assert difference.equal, difference.text()


@pytest.mark.parametrize("name", ["resnet50", "inception", "vae"])   # blocks, many blocks, several models
def test_the_resolved_spec_has_the_same_keras_parameter_count(name, tmp_path):
    from builder.model.compile import compile_graph

    path = SPECS / f"{name}.yaml"
    small = load(path).data.get("small") is not None
    copy = write_spec(tmp_path, resolved_text(path, small=small), f"{name}.yaml")
    before = compile_graph(open_spec(path, small=small).graph)
    after = compile_graph(load_graph(copy))
    assert {m: before[m].count_params() for m in before} == {m: after[m].count_params() for m in after}


def test_each_value_says_where_it_came_from(tmp_path):
    spec = write_spec(tmp_path, BLOCKS)
    text = resolved_text(spec, {"drop": 0.2, "layers.out.units": 3})
    assert "- {id: stage, block: unit, repeat: 2" not in text   # the first repeat differs (per_repeat)
    assert comment(text, "- {id: stage_1, block: unit, inputs: x}") == "line 16: block unit, repeat 1 of 3"
    assert comment(text, "units: 16") == ("${units * 2} (line 9): units=8 from ${width} in stage's with, line 16 "
                                          "(width=8 from params, line 2)")
    assert comment(text, "rate: 0.5") == "${rate} (line 10): rate=0.5 from stage's per_repeat[0], line 16"
    assert comment(text, "rate: 0.0") == "${rate} (line 10): rate=0.0 from block unit's default, line 7"
    # through pair's `with: {units: "${units}"}`, to where pair's units was set
    assert comment(text, "units: 6") == "${units * 2} (line 9): units=3 from nested's with, line 17"
    assert comment(text, "rate: 0.4") == ("${rate} (line 10): rate=0.4 from ${drop * 2} in frozen's with, line 18 "
                                          "(drop=0.2 from --set drop=0.2)")
    assert comment(text, "trainable: false") == "trainable: false on frozen, line 18"
    assert comment(text, "units: 3") == "--set layers.out.units=3"
    assert "skipped" not in text and "when" not in text   # left out: the compiler never sees it
    assert comment(text, "epochs: 3") == "line 23"
    assert comment(text, "outputs: [out]") == "default: the last node"
    small = resolved_text(spec, small=True)
    assert comment(small, "units: 8") == ("${units * 2} (line 9): units=4 from ${width} in stage's with, line 16 "
                                          "(width=4 from --small: small.width=4, line 3)")


def test_a_search_trial_and_a_run_folder_are_marked(tmp_path):
    base = SPECS / "lenet_search.yaml"
    folder = tmp_path / "search" / "lenet-1"
    (folder / "specs").mkdir(parents=True)
    (folder / "spec.yaml").write_text(base.read_text())
    (folder / "search.json").write_text("{}")
    document = load(base)
    spec = parse(document)
    found, _ = search_space.targets(spec, document)
    values = {"params.c1": 12, "train.optimizer.learning_rate": 0.005}
    trial = folder / "specs" / "trial-007.yaml"
    trial.write_text(search_space.dump(search_space.concrete(document.data, values, found)))
    text = resolved_text(trial)
    assert comment(text, "filters: 12") == "${c1} (line 15): c1=12 from search trial 7 of lenet-1: params.c1=12"
    assert comment(text, "learning_rate: 0.005") == "search trial 7 of lenet-1: train.optimizer.learning_rate=0.005"
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text((SPECS / "mlp.yaml").read_text())
    (run / "run.json").write_text(json.dumps({"overrides": {"units": 16}}))
    assert comment(resolved_text(run), "units: 16") == "${units} (line 29): units=16 from --set units=16 in run.json"


def test_defaults_add_the_keras_defaults_marked_as_such(tmp_path):
    spec = write_spec(tmp_path, BLOCKS)
    text = resolved_text(spec, defaults=True)
    assert comment(text, "kernel_initializer: glorot_uniform") == "Keras default"
    assert "--defaults" in text.splitlines()[0]


def test_json_gives_the_spec_and_its_sources_by_node_id(tmp_path):
    spec = write_spec(tmp_path, BLOCKS)
    result = CliRunner().invoke(main, ["resolve", str(spec), "--format", "json", "--set", "width=5"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [node["id"] for node in data["spec"]["layers"]][:3] == ["stage_1", "stage_2", "stage_3"]
    block = data["spec"]["layers"][0]["block"]
    assert data["spec"]["blocks"][block]["layers"][0]["units"] == 10
    source = data["sources"][f"blocks.{block}.layers.dense.units"]
    assert source == {"from": "expression", "line": 9, "text": "${units * 2} (line 9): units=5 from ${width} in "
                                                               "stage's with, line 16 (width=5 from --set width=5)"}
    assert data["sources"]["layers.out.units"] == {"from": "spec", "line": 20, "text": "line 20"}


def test_a_bad_spec_is_a_located_error(tmp_path):
    spec = write_spec(tmp_path, BLOCKS.replace("units: 2}", "units: 0}"))
    result = CliRunner().invoke(main, ["resolve", str(spec)])
    assert result.exit_code == 1
    assert "spec.yaml:20:" in result.stderr and "Received: units=0" in result.stderr
    assert "Traceback" not in result.output


def test_a_resnet152_sized_spec_resolves_in_under_a_second():
    start = time.perf_counter()
    result = CliRunner().invoke(main, ["resolve", str(SPECS / "resnet50.yaml"), "--set", "depth3=8",
                                       "--set", "depth4=36"])
    elapsed = time.perf_counter() - start
    assert result.exit_code == 0, result.output
    assert "{id: block, block: bottleneck_3, repeat: 35, inputs: block1}" in result.stdout   # alike repeats: one use
    assert elapsed < 1, f"{elapsed:.2f} s"
