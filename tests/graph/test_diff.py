"""`builder diff`: two specs (or runs, or a spec and its --set version) compared node by node, without Keras."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from spec_helpers import ROOT, SPECS, write_spec

from builder.cli import main
from builder.graph.diff import ADDED, AFFECTED, CHANGED, RENAMED, compare
from builder.graph.resolved import open_spec

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
RESNET = SPECS / "resnet50.yaml"

SMALL = """
    name: small
    params: {width: 16, hidden: 32}
    inputs: {x: {shape: [8, 8, 1]}}
    layers:
      - {id: c1, type: Conv2D, filters: "${width}", kernel_size: 3}
      - {id: flat, type: Flatten}
      - {id: d1, type: Dense, units: "${hidden}", activation: relu}
      - {id: out, type: Dense, units: "${hidden // 2 - 6}"}
    train:
      data: {source: builtin, name: digits, image: true}
      optimizer: {type: adam, learning_rate: 1.0e-3}
      loss: sparse_categorical_crossentropy
"""

# SMALL written otherwise: no params, block style, other key order, `[3, 3]` for 3, a default given, the
# optimizer's defaults written out, `adam` by name
SMALL_REWRITTEN = """
    name: small
    train:
      loss: sparse_categorical_crossentropy
      optimizer:
        learning_rate: 0.001
        beta_1: 0.9
        type: adam
      data: {name: digits, source: builtin, image: true}
    inputs:
      x:
        shape: [8, 8, 1]
    layers:
      - kernel_size: [3, 3]
        type: Conv2D
        id: c1
        filters: 16
        padding: valid
      - id: flat
        type: Flatten
      - {type: Dense, id: d1, activation: relu, units: 32}
      - {type: Dense, id: out, units: 10}
"""


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_specs_written_differently_diff_as_equal(tmp_path):
    a, b = write_spec(tmp_path, SMALL, "a.yaml"), write_spec(tmp_path, SMALL_REWRITTEN, "b.yaml")
    result = compare(open_spec(a), open_spec(b))
    assert result.equal, result.text()
    cli = run_cli("diff", a, b)
    assert cli.exit_code == 0, cli.output
    assert cli.stdout.endswith("no differences: the specs build the same model and train it alike\n")


def test_a_widened_resnet_stage_lists_the_changed_arguments_and_the_parameter_deltas():
    result = compare(open_spec(RESNET, {"size": 32}), open_spec(RESNET, {"size": 32, "layers.conv3.with.filters": 256}))
    changed = {c.b: c for c in result.nodes if c.kind == CHANGED}
    assert set(changed) == {f"conv3.{i}.{n}" for i in ("block1", "block_1", "block_2", "block_3")
                            for n in ("branch.conv1", "branch.conv2", "branch.conv3")} | {"conv3.block1.shortcut"}
    assert changed["conv3.block1.shortcut"].changes == [("filters", 512, 1024)]
    assert changed["conv3.block_2.branch.conv2"].changes == [("filters", 128, 256)]
    assert changed["conv3.block_2.branch.conv2"].params == (147_584, 590_080)   # 3x3x128x128 + 128 -> 3x3x256x256 + 256
    affected = {c.b for c in result.nodes if c.kind == AFFECTED}
    assert "conv3.block1.branch.bn1" in affected and "conv4.block1.shortcut" in affected   # reads 1024 channels now
    assert "conv2.block1.shortcut" not in affected | set(changed)                         # before the stage: the same
    before, after = result.totals["resnet50"]
    assert before == 25_636_712 and after - before == sum((c.params[1] or 0) - (c.params[0] or 0) for c in result.nodes)
    text = result.text()
    assert "~ changed  conv3.block1.shortcut" in text and "filters: 512 -> 1024" in text
    assert "params 147,584 -> 590,080 (+442,496)" in text
    assert text.endswith(f"parameters 25,636,712 -> {after:,} ({after - before:+,})\n")


def test_a_deeper_stack_adds_only_the_new_repeats():
    """ResNet50 -> ResNet152: the stages' repeats match by their place, so only the new ones show, one line per
    stage, and the nodes after a stage still read the same (its last repeat), whatever its depth."""
    result = compare(open_spec(RESNET), open_spec(RESNET, {"depth3": 8, "depth4": 36}))
    assert {c.kind for c in result.nodes} == {ADDED}
    assert len(result.nodes) == (4 + 30) * 10
    assert result.totals["resnet50"] == (25_636_712, 60_419_944)   # keras.applications.ResNet152: 60,419,944
    lines = result.text().splitlines()
    assert lines[3] == ("  + added    conv3.block_4..7   4 repeats of block bottleneck, 10 nodes each, out 28x28x512, "
                        "+282,368 params each")
    assert lines[4].startswith("  + added    conv4.block_6..35  30 repeats of block bottleneck")
    assert lines[-1] == "nodes: 340 added; parameters 25,636,712 -> 60,419,944 (+34,783,232)"


def test_a_renamed_node_is_paired_by_its_type_arguments_and_neighbours(tmp_path):
    a = write_spec(tmp_path, SMALL, "a.yaml")
    b = write_spec(tmp_path, SMALL.replace("id: d1", "id: hidden"), "b.yaml")
    result = compare(open_spec(a), open_spec(b))
    assert [(c.kind, c.a, c.b) for c in result.nodes] == [(RENAMED, "d1", "hidden")]   # `out` reads it: not changed
    assert "> renamed  d1 -> hidden  Dense" in result.text()
    # a renamed node whose argument changed too is no rename: one node removed, one added
    c = write_spec(tmp_path, SMALL.replace("id: d1", "id: hidden").replace('"${hidden}"', "33"), "c.yaml")
    kinds = sorted(c.kind for c in compare(open_spec(a), open_spec(c)).nodes)
    assert kinds == ["added", "changed", "removed"]   # `out` reads the new node


def test_a_changed_optimizer_is_listed_setting_by_setting(tmp_path):
    a = write_spec(tmp_path, SMALL, "a.yaml")
    b = write_spec(tmp_path, SMALL.replace("{type: adam, learning_rate: 1.0e-3}", "{type: sgd, momentum: 0.9}"), "b.yaml")
    result = compare(open_spec(a), open_spec(b))
    assert result.nodes == [] and not result.equal
    paths = {path: (before, after) for path, before, after in result.train}
    assert paths["train.optimizer.type"] == ("adam", "sgd")
    assert paths["train.optimizer.momentum"][1] == 0.9
    assert paths["train.optimizer.learning_rate"] == (0.001, 0.01)   # not given in B: SGD's default
    assert "train.optimizer.beta_1" not in paths   # Adam's, at its default: SGD takes none
    cli = run_cli("diff", a, b, "--format", "json")
    assert cli.exit_code == 1
    data = json.loads(cli.stdout)
    assert data["equal"] is False and {"path": "train.optimizer.type", "a": "adam", "b": "sgd"} in data["train"]


def test_one_spec_against_its_own_set_version_and_a_run_folder(tmp_path):
    spec = write_spec(tmp_path, SMALL)
    result = run_cli("diff", spec, "--set", "width=24")
    assert result.exit_code == 1, result.output
    assert "~ changed  c1" in result.stdout and "filters: 16 -> 24" in result.stdout
    run = tmp_path / "run"
    run.mkdir()
    (run / "spec.yaml").write_text(spec.read_text())
    (run / "run.json").write_text(json.dumps({"overrides": {"width": 24, "train.epochs": 3}}))
    result = run_cli("diff", spec, run)
    assert result.exit_code == 1 and "+++ " + str(run) + " (--set width=24 --set train.epochs=3)" in result.stdout
    assert "train.epochs: 10 -> 3" in result.stdout   # 10: the default
    assert run_cli("diff", run, run).exit_code == 0


def test_trouble_exits_2_with_located_messages(tmp_path):
    good = write_spec(tmp_path, SMALL, "a.yaml")
    bad = write_spec(tmp_path, SMALL.replace("units: 32", "units: 0").replace('"${hidden}"', "0"), "b.yaml")
    result = run_cli("diff", good, bad)
    assert result.exit_code == 2
    assert "b.yaml:7:" in result.stderr and "Received: units=0" in result.stderr and "Traceback" not in result.output
    assert run_cli("diff", good, tmp_path / "missing.yaml").exit_code == 2
    alone = run_cli("diff", good)
    assert alone.exit_code == 2 and "give B" in alone.stderr
    folder = tmp_path / "empty"
    folder.mkdir()
    result = run_cli("diff", good, folder)
    assert result.exit_code == 2 and "a folder here must be a run folder" in result.stderr
    (folder / "spec.yaml").write_text(good.read_text())
    (folder / "run.json").write_text('{"overrides": [1, 2]}')   # damaged
    result = run_cli("diff", good, folder)
    assert result.exit_code == 2 and "run.json: error: expected `overrides` to be a mapping" in result.stderr


@needs_dot
def test_the_drawing_colours_what_changed_and_boxes_the_rest(tmp_path):
    out = tmp_path / "diff.dot"
    result = run_cli("diff", RESNET, "--set", "depth4=7", "--set", "layers.conv5.with.filters=256", "-o", out)
    assert result.exit_code == 1, result.output
    text = out.read_text()
    statements = [line for line in text.splitlines() if "[label=" in line and " -> " not in line]
    added = [line for line in statements if "block:conv4.block_6" in line]
    assert len(added) == 1 and 'fillcolor="#C8E6C9"' in added[0] and "added" in added[0]
    unchanged = [line for line in statements if '"resnet50/block:conv2"' in line]
    assert len(unchanged) == 1 and 'fillcolor="#F5F5F5"' in unchanged[0]   # a stage without a change: one box
    changed = [line for line in statements if '"resnet50/conv5.block1.shortcut" [' in line]
    assert 'fillcolor="#FFE0B2"' in changed[0] and "filters: 2048 -\\> 1024" in changed[0]
    assert "removed" not in text.split("cluster_legend")[1]   # the legend lists the colours drawn
    png = tmp_path / "diff.png"
    assert run_cli("diff", RESNET, "--set", "depth4=7", "-o", png).exit_code == 1
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_diff_and_resolve_never_import_keras(tmp_path):
    spec = write_spec(tmp_path, SMALL)
    code = ("import sys; from builder.cli import main\n"
            "for args in (['diff', sys.argv[1], '--set', 'width=8', '-q'], ['resolve', sys.argv[1]]):\n"
            "    try:\n"
            "        main(args)\n"
            "    except SystemExit as exit:\n"
            "        assert exit.code in (0, 1), exit.code\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch'))\n"
            "print('heavy:', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True, cwd=ROOT,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("heavy: []")


def test_a_resnet152_sized_diff_takes_under_a_second():
    start = time.perf_counter()
    result = run_cli("diff", RESNET, "--set", "depth3=8", "--set", "depth4=36")
    elapsed = time.perf_counter() - start
    assert result.exit_code == 1, result.output
    assert elapsed < 1, f"{elapsed:.2f} s"
