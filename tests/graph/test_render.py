"""The render stage: a resolved graph drawn as DOT (nodes, edges, block and model clusters),
escaped, deterministic, fast on big graphs, and written through Graphviz's real `dot`."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from spec_helpers import SPECS, TESTS, graph_of, write_spec

from builder.cli import main
from builder.graph import load_graph
from builder.graph import render as drawing
from builder.graph.render import RenderError, render, write

GOOD_SPECS = sorted((TESTS / "good_specs").glob("*.yaml"))
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")

LENET = """
    name: lenet
    inputs:
      image: {shape: [28, 28, 1]}
    layers:
      - {id: conv1, type: Conv2D, filters: 6, kernel_size: 5, padding: same, activation: tanh}
      - {id: pool1, type: AveragePooling2D, pool_size: 2}
      - {id: conv2, type: Conv2D, filters: 16, kernel_size: 5, activation: tanh}
      - {id: pool2, type: AveragePooling2D, pool_size: 2}
      - {type: Flatten}
      - {id: fc1, type: Dense, units: 120, activation: tanh}
      - {id: fc2, type: Dense, units: 84, activation: tanh}
      - {id: logits, type: Dense, units: 10, activation: softmax}
"""

RESNET = """
    name: resnet
    params: {width: 16}
    blocks:
      conv_bn:
        params: {filters: null, stride: 1}
        layers:
          - {type: Conv2D, filters: "${filters}", kernel_size: 3, strides: "${stride}", padding: same}
          - {type: BatchNormalization}
          - {type: ReLU}
      residual:
        params: {filters: null, stride: 1}
        layers:
          - {id: a, block: conv_bn, with: {filters: "${filters}", stride: "${stride}"}}
          - {id: b, type: Conv2D, filters: "${filters}", kernel_size: 3, padding: same}
          - {id: short, type: Conv2D, filters: "${filters}", kernel_size: 1, strides: "${stride}", inputs: $in}
          - {id: sum, type: Add, inputs: [b, short]}
    inputs:
      image: {shape: [32, 32, 3]}
    layers:
      - {id: stem, type: Conv2D, filters: "${width}", kernel_size: 3, padding: same}
      - {id: stage1, block: residual, repeat: 3, with: {filters: "${width * 4}"}, per_repeat: [{stride: 2}]}
      - {id: pool, type: GlobalAveragePooling2D}
      - {id: logits, type: Dense, units: 10}
"""

GAN = """
    name: gan
    models:
      generator:
        inputs: {z: {shape: [16]}}
        layers:
          - {type: Dense, units: 64, activation: relu}
          - {id: image, type: Dense, units: 64, activation: sigmoid}
      discriminator:
        inputs: {image: {shape: [64]}}
        layers:
          - {type: Dense, units: 32, activation: relu}
          - {id: score, type: Dense, units: 1}
      gan:
        inputs: {z: {shape: [16]}}
        layers:
          - {id: fake, model: generator}
          - {id: score, model: discriminator, inputs: fake}
"""


def resnet152_text(stages=(3, 8, 36, 3)) -> str:
    """A ResNet152-sized spec (bottleneck blocks with nested conv_bn blocks): 557 nodes."""
    uses = "\n".join(
        f"  - {{id: stage{i + 1}, block: bottleneck, repeat: {n}, with: {{filters: {64 * 2 ** i}}}"
        + (", per_repeat: [{stride: 2}]}" if i else "}") for i, n in enumerate(stages))
    return """
name: resnet152
inputs:
  image: {shape: [224, 224, 3]}
blocks:
  conv_bn:
    params: {filters: null, kernel: 1, stride: 1}
    layers:
      - {type: Conv2D, filters: "${filters}", kernel_size: "${kernel}", strides: "${stride}", padding: same}
      - {type: BatchNormalization}
      - {type: ReLU}
  bottleneck:
    params: {filters: null, stride: 1}
    layers:
      - {id: reduce, block: conv_bn, with: {filters: "${filters}", stride: "${stride}"}}
      - {id: spatial, block: conv_bn, with: {filters: "${filters}", kernel: 3}}
      - {id: expand, type: Conv2D, filters: "${filters * 4}", kernel_size: 1}
      - {id: bn, type: BatchNormalization}
      - {id: short, type: Conv2D, filters: "${filters * 4}", kernel_size: 1, strides: "${stride}", inputs: $in}
      - {id: sum, type: Add, inputs: [bn, short]}
      - {type: ReLU}
layers:
  - {id: stem, block: conv_bn, with: {filters: 64, kernel: 7, stride: 2}}
  - {type: MaxPooling2D, pool_size: 3, strides: 2, padding: same}
""" + uses + """
  - {type: GlobalAveragePooling2D}
  - {id: logits, type: Dense, units: 1000, activation: softmax}
"""


# --- reading DOT back ---------------------------------------------------------------------------

QUOTED = r'"((?:[^"\\]|\\.)*)"'


def parse_dot(text: str) -> dict:
    """Node statements, visible edges and clusters of DOT text written by `render`."""
    nodes, edges, clusters = [], [], []
    for line in text.splitlines():
        edge = re.match(rf"\s*{QUOTED} -> {QUOTED}(.*)", line)
        if edge:
            if "style=invis" not in line:
                edges.append((edge.group(1), edge.group(2), edge.group(3)))
            continue
        node = re.match(rf"\s*{QUOTED} \[(.*)\];$", line)
        if node:
            nodes.append((node.group(1), node.group(2)))
        cluster = re.match(r"\s*subgraph (cluster_\w+) \{", line)
        if cluster:
            clusters.append(cluster.group(1))
    real = [n for n, _ in nodes if not n.startswith("legend/")]
    return {"nodes": real, "attrs": dict(nodes), "legend": [n for n, _ in nodes if n.startswith("legend/")],
            "edges": edges, "pairs": [(a, b) for a, b, _ in edges], "clusters": clusters}


def label_of(dot: dict, node: str) -> str:
    return re.search(rf"label={QUOTED}", dot["attrs"][node]).group(1)


def expected_edges(graph) -> int:
    """Distinct (source, reader, output index) connections, output terminals and model-call edges."""
    count = 0
    for model in graph.models.values():
        count += len({(r.node, n.id, r.index) for n in model.nodes.values() for r in n.sources})
        count += len(model.outputs)
        count += len({n.type for n in model.nodes.values() if n.op == "model"})
    return count


def expected_clusters(graph) -> int:
    scopes = {(m, s.id) for m, model in graph.models.items() for n in model.nodes.values() for s in n.scopes}
    return len(scopes) + (len(graph.models) if len(graph.models) > 1 else 0) + 1   # + legend


# --- structure --------------------------------------------------------------------------------------

def test_lenet_draws_every_node_and_edge_with_its_arguments(tmp_path):
    graph = graph_of(tmp_path, LENET)
    dot = parse_dot(render(graph))
    assert len(dot["nodes"]) == graph.node_count() + 1          # + the output terminal
    assert len(dot["edges"]) == expected_edges(graph) == 9
    assert dot["clusters"] == ["cluster_legend"]
    conv1 = label_of(dot, "lenet/conv1")
    assert conv1.startswith("conv1 : Conv2D") and "filters=6" in conv1 and "kernel_size=5" in conv1
    assert "padding=same" in conv1 and "activation=tanh" in conv1
    assert "padding" not in label_of(dot, "lenet/conv2")            # the default, valid, is not shown
    assert "Input 28x28x1" in label_of(dot, "lenet/image")
    legend = [label_of(dot, n) for n in dot["legend"]]
    assert legend == ["input / output", "convolution", "dense / embedding", "pooling", "reshape"]


@pytest.mark.parametrize("path", GOOD_SPECS, ids=lambda p: p.stem)
def test_every_good_spec_draws_one_box_per_node(path):
    graph = load_graph(str(path), {})
    dot = parse_dot(render(graph, collapse=False))
    outputs = sum(len(m.outputs) for m in graph.models.values())
    assert len(dot["nodes"]) == graph.node_count() + outputs
    assert len(dot["edges"]) == expected_edges(graph)
    assert len(dot["clusters"]) == expected_clusters(graph)


def test_blocks_are_nested_clusters_titled_with_their_parameters(tmp_path):
    graph = graph_of(tmp_path, RESNET)
    text = render(graph, collapse=False)
    dot = parse_dot(text)
    assert len(dot["clusters"]) == 3 + 3 + 1                      # stage1_1..3, each with its conv_bn, legend
    assert "stage1_1 · residual  filters=64  stride=2" in text
    assert "stage1_2 · residual  filters=64  stride=1" in text
    assert 'a · conv_bn  filters=64  stride=2' in text             # nested title: local id
    # the nested cluster sits inside its parent
    start = text.index("stage1_1 · residual")
    assert start < text.index("a · conv_bn", start) < text.index("stage1_2 · residual")
    assert label_of(dot, "resnet/stage1_1.a.conv2d_1").startswith("conv2d_1 : Conv2D")


def test_collapse_draws_the_first_repeat_once_and_redirects_edges(tmp_path):
    graph = graph_of(tmp_path, RESNET)
    text = render(graph, collapse=True)
    dot = parse_dot(text)
    first = [n for n in graph.models["resnet"].nodes if not n.startswith(("stage1_2", "stage1_3"))]
    assert dot["nodes"] == ["resnet/" + n for n in first] + ["resnet/output:0"]
    assert len(dot["clusters"]) == 2 + 1
    assert "stage1 · residual  filters=64  stride=2/1/1  x3" in text
    pairs = dot["pairs"]
    assert not any("stage1_2" in a or "stage1_3" in b for a, b in pairs)
    # what read the last repeat now reads the first; nothing loops back from repeat to repeat
    assert ("resnet/stage1_1.sum", "resnet/pool") in pairs
    assert ("resnet/stage1_1.sum", "resnet/stage1_1.a.conv2d_1") not in pairs
    assert ("resnet/stem", "resnet/stage1_1.a.conv2d_1") in pairs
    assert len(pairs) == len(set(pairs))


def test_big_graphs_collapse_unless_told_not_to(tmp_path):
    graph = graph_of(tmp_path, resnet152_text())
    assert graph.node_count() == 557 > drawing.AUTO_COLLAPSE_NODES
    collapsed = parse_dot(render(graph))
    assert len(collapsed["nodes"]) == 1 + 3 + 1 + 4 * 11 + 2 + 1    # input, stem, pool, one repeat a stage, head
    assert "x36" in render(graph)
    full = parse_dot(render(graph, collapse=False))
    assert len(full["nodes"]) == 557 + 1
    assert len(full["edges"]) == expected_edges(graph)


def test_depth_draws_deeper_blocks_as_single_boxes(tmp_path):
    graph = graph_of(tmp_path, RESNET)
    top = parse_dot(render(graph, depth=0, collapse=False))
    boxes = [n for n in top["nodes"] if "block:" in n]
    assert boxes == ["resnet/block:stage1_1", "resnet/block:stage1_2", "resnet/block:stage1_3"]
    assert top["clusters"] == ["cluster_legend"]
    assert label_of(top, boxes[0]).split("\\n")[:2] == ["stage1_1", "residual (6 layers)"]
    assert ("resnet/stem", "resnet/block:stage1_1") in top["pairs"]
    assert ("resnet/block:stage1_1", "resnet/block:stage1_2") in top["pairs"]
    assert len(top["edges"]) == 7                                   # image-stem-1-2-3-pool-logits-output
    one = parse_dot(render(graph, depth=1, collapse=False))
    assert "resnet/block:stage1_2.a" in one["nodes"]
    assert "conv_bn (3 layers)" in label_of(one, "resnet/block:stage1_2.a")
    assert len(one["clusters"]) == 3 + 1
    both = parse_dot(render(graph, depth=0, collapse=True))
    assert [n for n in both["nodes"] if "block:" in n] == ["resnet/block:stage1_1"]
    assert label_of(both, "resnet/block:stage1_1").split("\\n")[:2] == ["stage1", "residual (6 layers)  x3"]


def test_a_collapsed_cluster_is_the_first_of_n_with_the_parameters_of_all_n(tmp_path):
    graph = graph_of(tmp_path, RESNET)
    nodes = graph.models["resnet"].nodes
    # a different count in each repeat: the total must be their sum, not three times the first's
    counts = {n: {"stage1_1": 100, "stage1_2": 20, "stage1_3": 3}.get(n.split(".")[0], 0) for n in nodes}
    text = render(graph, collapse=True, params={"resnet": counts})
    members = sum(1 for n in nodes if n.startswith("stage1_1") and nodes[n].op == "layer")
    assert members == 6
    title = "stage1 · residual  filters=64  stride=2/1/1  x3\\nfirst of 3 drawn · 738 params in all 3"
    assert title in text                                           # 6 layers x (100 + 20 + 3)
    assert "100 params" in label_of(parse_dot(text), "resnet/stage1_1.b")   # a node: the first repeat's own
    box = parse_dot(render(graph, collapse=True, depth=0, params={"resnet": counts}))
    assert label_of(box, "resnet/block:stage1_1").split("\\n") == ["stage1", "residual (6 layers)  x3",
                                                                     "filters=64  stride=2/1/1", "738 params in all 3"]
    apart = parse_dot(render(graph, collapse=False, depth=0, params={"resnet": counts}))
    assert label_of(apart, "resnet/block:stage1_2").endswith("120 params")


def test_without_counts_the_drawing_estimates_them_and_says_so(tmp_path):
    text = render(graph_of(tmp_path, LENET))
    assert 'label="lenet  (~61,706 params, estimated)"' in text     # keras.Model.count_params() gives 61,706
    assert "2,416 params" in label_of(parse_dot(text), "lenet/conv2")
    partly = render(graph_of(tmp_path, """
        inputs: {x: {shape: [4, 8]}}
        layers:
          - {id: mixed, type: EinsumDense, equation: "abc,cd->abd", output_shape: [4, 3]}
          - {id: after, type: Dense, units: 2}
          - {id: head, type: Dense, units: 1, inputs: x}
    """))
    assert 'label="spec  (~9 params, estimated; 2 layers not counted: Dense, EinsumDense)"' in partly


def test_several_models_are_clusters_and_calls_point_at_them(tmp_path):
    graph = graph_of(tmp_path, GAN)
    text = render(graph)
    dot = parse_dot(text)
    assert len(dot["clusters"]) == 3 + 1
    assert text.index("subgraph cluster_m0") < text.index('label="generator  (~5,248 params, estimated)"')
    calls = [(a, b, rest) for a, b, rest in dot["edges"] if "lhead" in rest]
    assert [(a, b) for a, b, _ in calls] == [("gan/fake", "generator/z"), ("gan/score", "discriminator/image")]
    assert "lhead=cluster_m0" in calls[0][2] and "lhead=cluster_m1" in calls[1][2]
    assert all("style=dashed" in rest for _, _, rest in calls)
    assert "compound=true" in text
    assert "model: generator" in label_of(dot, "gan/fake")
    assert ("gan/fake", "gan/score") in dot["pairs"]


def test_shapes_label_edges_and_params_label_nodes(tmp_path):
    graph = graph_of(tmp_path, LENET)
    shapes = {"lenet": {"image": (None, 28, 28, 1), "conv1": (None, 28, 28, 6), "flatten_1": (None, 400),
                        "logits": (None, 10)}}
    params = {"lenet": {"conv1": 156, "conv2": 2416, "pool1": 0}}
    text = render(graph, shapes=shapes, params=params)
    dot = parse_dot(text)
    labels = {(a, b): rest for a, b, rest in dot["edges"]}
    assert 'label="28x28x6"' in labels[("lenet/conv1", "lenet/pool1")]
    assert 'label="400"' in labels[("lenet/flatten_1", "lenet/fc1")]
    assert 'label="10"' in labels[("lenet/logits", "lenet/output:0")]
    assert "label" not in labels[("lenet/pool1", "lenet/conv2")]          # unknown: no label
    assert "2,416 params" in label_of(dot, "lenet/conv2")
    assert "params" not in label_of(dot, "lenet/pool1")                   # 0 is not worth a line
    assert 'label="lenet  (2,572 params)"' in text


def test_several_outputs_label_each_edge_with_its_own_shape(tmp_path):
    graph = graph_of(tmp_path, """
        inputs: {x: {shape: [null, 8]}}
        layers:
          - {id: enc, type: LSTM, units: 4, return_state: true}
          - {id: h, type: Dense, units: 2, inputs: "enc[1]"}
          - {id: c, type: Dense, units: 3, inputs: "enc[2]"}
          - {id: both, type: Concatenate, inputs: [h, c, "enc[0]"]}
    """)
    shapes = {"spec": {"x": (None, None, 8), "enc": [(None, 4), (None, 5), (None, 6)]}}
    dot = parse_dot(render(graph, shapes=shapes))
    labels = {(a, b): rest for a, b, rest in dot["edges"]}
    assert 'label="?x8"' in labels[("spec/x", "spec/enc")]
    assert 'label="5"' in labels[("spec/enc", "spec/h")] and 'label="6"' in labels[("spec/enc", "spec/c")]
    assert 'label="4"' in labels[("spec/enc", "spec/both")]


def test_rankdir_and_bad_arguments(tmp_path):
    graph = graph_of(tmp_path, LENET)
    assert "rankdir=LR" in render(graph, rankdir="LR")
    assert "rankdir=TB" in render(graph)
    with pytest.raises(ValueError, match="rankdir is TB or LR. Received: rankdir='BT'"):
        render(graph, rankdir="BT")
    with pytest.raises(ValueError, match="depth=-1"):
        render(graph, depth=-1)


def test_same_spec_gives_byte_identical_dot_across_processes(tmp_path):
    path = write_spec(tmp_path, RESNET)
    code = ("import sys; from builder.graph import load_graph; from builder.graph.render import render; "
            "sys.stdout.write(render(load_graph(sys.argv[1], {}), collapse=True, depth=1))")
    outputs = {subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")}
    assert len(outputs) == 1
    assert outputs == {render(graph_of(tmp_path, RESNET), collapse=True, depth=1)}


# --- escaping ---------------------------------------------------------------------------------------

ESCAPES = """
    name: escapes
    inputs:
      x: {shape: [8, 16]}
    blocks:
      proj:
        params: {eq: "ab,bc->ac", tag: "x"}
        layers:
          - {type: EinsumDense, equation: "${eq}", output_shape: 32, bias_axes: "${tag}"}
    layers:
      - {type: EinsumDense, equation: "abc,cd->abd", output_shape: [8, 4]}
      - {block: proj, with: {eq: "abc,cd->abd", tag: "q\\"{|}<x>&"}}
"""


def test_user_strings_are_escaped_in_labels(tmp_path):
    graph = graph_of(tmp_path, ESCAPES)
    text = render(graph)
    assert r"equation=abc,cd-\>abd" in text
    assert r"tag=q\"\{\|\}\<x\>&" in text
    for quoted in re.findall(QUOTED, text):                     # no special character left bare
        assert not re.search(r'(?<!\\)(?:\\\\)*[<>{}|"]', quoted), quoted


def test_escape_handles_backslashes_newlines_and_record_characters():
    assert drawing._escape('a\\n"b"') == r'a\\n\"b\"'
    assert drawing._escape("two\nlines\r\ttab") == "two lines tab"
    assert drawing._escape("{a|b}<c>") == r"\{a\|b\}\<c\>"
    long = drawing._value("x" * 500)
    assert len(long) == drawing.VALUE_CHARS and long.endswith("...")


@needs_dot
def test_escaped_text_survives_dot(tmp_path):
    write(render(graph_of(tmp_path, ESCAPES)), tmp_path / "escapes.svg")
    svg = (tmp_path / "escapes.svg").read_text()
    assert "tag=q&quot;{|}&lt;x&gt;&amp;" in svg
    assert "equation=abc,cd&#45;&gt;abd" in svg or "equation=abc,cd-&gt;abd" in svg


# --- writing files ----------------------------------------------------------------------------------

@needs_dot
def test_png_svg_and_pdf_come_from_the_real_dot(tmp_path):
    text = render(graph_of(tmp_path, RESNET))
    assert write(text, tmp_path / "r.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    svg = write(text, tmp_path / "r.svg").read_text()
    assert svg.startswith(("<?xml", "<svg")) and "</svg>" in svg
    assert write(text, tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")


def test_dot_files_need_no_graphviz(tmp_path, monkeypatch):
    text = render(graph_of(tmp_path, LENET))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert write(text, tmp_path / "m.dot").read_text() == text
    with pytest.raises(RenderError, match=re.escape("sudo apt-get install graphviz")):
        write(text, tmp_path / "m.png")
    with pytest.raises(RenderError, match="sudo apt-get install graphviz"):
        drawing.check_dot(tmp_path / "m.svg")
    drawing.check_dot(tmp_path / "m.dot")
    with pytest.raises(RenderError, match=r"cannot draw to '.*m\.jpg': use a file ending in \.svg"):
        write(text, tmp_path / "m.jpg")
    with pytest.raises(RenderError, match="cannot write .*No such file or directory"):
        write(text, tmp_path / "no" / "m.dot")


@needs_dot
def test_dot_runs_under_a_timeout(tmp_path):
    text = render(graph_of(tmp_path, resnet152_text()), collapse=False)
    with pytest.raises(RenderError, match="dot ran for more than"):
        write(text, tmp_path / "slow.svg", timeout=0.001)


def test_render_module_never_imports_keras():
    code = ("import sys, builder.graph.render, builder.cli; "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the command ------------------------------------------------------------------------------------

def run_cli(*args, env=None):
    return CliRunner().invoke(main, list(args), env=env)


@needs_dot
def test_cli_renders_svg(tmp_path):
    spec = write_spec(tmp_path, RESNET)
    out = tmp_path / "r.svg"
    result = run_cli("render", str(spec), "-o", str(out), "--no-shapes", "--rankdir", "LR", "--collapse",
                     "--depth", "1")
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("<?xml") and f"wrote {out}" in result.output


def test_cli_set_overrides_reach_the_drawing(tmp_path):
    spec = write_spec(tmp_path, RESNET)
    result = run_cli("render", str(spec), "-o", str(tmp_path / "r.dot"), "--no-shapes", "--set", "width=32")
    assert result.exit_code == 0, result.output
    assert "filters=128" in (tmp_path / "r.dot").read_text()


def test_cli_without_dot_says_how_to_install_it(tmp_path):
    spec = write_spec(tmp_path, LENET)
    result = run_cli("render", str(spec), "-o", str(tmp_path / "m.png"), "--no-shapes",
                     env={"PATH": str(tmp_path / "empty")})
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "sudo apt-get install graphviz" in result.stderr
    assert "Traceback" not in result.output
    result = run_cli("render", str(spec), "-o", str(tmp_path / "m.dot"), "--no-shapes",
                     env={"PATH": str(tmp_path / "empty")})
    assert result.exit_code == 0 and (tmp_path / "m.dot").exists()


def test_cli_reports_a_bad_spec_like_validate(tmp_path):
    spec = write_spec(tmp_path, """
        inputs: {x: {shape: [4]}}
        layers:
          - {type: Dense, unit: 3}
          - {type: Dense, units: 2, inputs: nowhere}
    """)
    validate = run_cli("validate", str(spec))
    drawn = run_cli("render", str(spec), "-o", str(tmp_path / "x.svg"), "--no-shapes")
    assert drawn.exit_code == validate.exit_code == 1
    assert drawn.stderr == validate.stderr
    assert "spec.yaml:3:" in drawn.stderr and not (tmp_path / "x.svg").exists()


def test_cli_rejects_unknown_formats_before_reading_the_spec(tmp_path):
    result = run_cli("render", str(tmp_path / "missing.yaml"), "-o", str(tmp_path / "x.gif"))
    assert result.exit_code == 1 and "use a file ending in .svg" in result.stderr


@needs_dot
def test_resnet152_sized_spec_renders_to_svg_in_under_3_seconds(tmp_path):
    spec = write_spec(tmp_path, resnet152_text())
    for flags in ((), ("--no-collapse", "--depth", "all")):
        start = time.perf_counter()
        result = run_cli("render", str(spec), "-o", str(tmp_path / "big.svg"), "--no-shapes", *flags)
        elapsed = time.perf_counter() - start
        assert result.exit_code == 0, result.output
        assert elapsed < 3, f"{flags}: {elapsed:.2f} s"


def test_cli_no_shapes_titles_the_estimate_without_importing_keras(tmp_path):
    spec, out = write_spec(tmp_path, LENET), tmp_path / "lenet.dot"
    code = ("import sys; from builder.cli import main; "
            "main(['render', sys.argv[1], '-o', sys.argv[2], '--no-shapes'], standalone_mode=False); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'")
    subprocess.run([sys.executable, "-c", code, str(spec), str(out)], check=True, capture_output=True)
    assert 'label="lenet  (~61,706 params, estimated)"' in out.read_text()


def test_cli_draws_big_graphs_to_a_depth_that_fits_and_says_so(tmp_path):
    spec = write_spec(tmp_path, resnet152_text())
    graph = load_graph(str(spec), {})
    assert drawing.auto_depth(graph) == 1 and drawing.auto_depth(graph, collapse=False) == 0
    assert drawing.auto_depth(graph_of(tmp_path / "small", RESNET)) is None        # 18 nodes: drawn whole
    result = run_cli("render", str(spec), "-o", str(tmp_path / "auto.dot"), "--no-shapes")
    assert result.exit_code == 0, result.output
    assert "note: 557 nodes: drawn to depth 1 (--depth N for more, --depth all for every level)" in result.stderr
    auto = parse_dot((tmp_path / "auto.dot").read_text())
    assert len(auto["nodes"]) <= drawing.AUTO_DEPTH_BOXES < len(parse_dot(render(graph, depth=2))["nodes"])
    assert "resnet152/block:stage3_1.spatial" in auto["nodes"]
    assert (tmp_path / "auto.dot").read_text() == render(graph, depth=1) == render(graph, depth="auto")
    for flags, depth in ((("--depth", "all"), None), (("--depth", "2"), 2), (("--depth", "0"), 0)):
        result = run_cli("render", str(spec), "-o", str(tmp_path / "asked.dot"), "--no-shapes", *flags)
        assert result.exit_code == 0 and "note:" not in result.stderr                   # the user's depth wins
        assert (tmp_path / "asked.dot").read_text() == render(graph, depth=depth)
    result = run_cli("render", str(spec), "-o", str(tmp_path / "x.dot"), "--depth", "deep")
    assert result.exit_code == 2
    assert "Invalid value for '--depth': expected a whole number from 0, or all. Received: 'deep'" in result.stderr


@needs_dot
def test_the_automatic_depth_keeps_resnet152_one_page_tall(tmp_path):
    sizes = {}   # (width, height) of the PNG: 896x2792 against 1374x12868 when measured
    for name, flags in (("auto", ()), ("all", ("--depth", "all"))):
        result = run_cli("render", str(SPECS / "resnet50.yaml"), "--set", "depth3=8", "--set", "depth4=36",
                         "-o", str(tmp_path / f"{name}.png"), "--no-shapes", *flags)
        assert result.exit_code == 0, result.output
        sizes[name] = struct.unpack(">II", (tmp_path / f"{name}.png").read_bytes()[16:24])   # IHDR's width, height
    assert sizes["auto"][1] < 4000 and sizes["all"][1] > 10000, sizes


def test_cli_draws_shapes_from_the_compile_stage_by_default(tmp_path):
    pytest.importorskip("keras")
    spec = write_spec(tmp_path, LENET)
    result = run_cli("render", str(spec), "-o", str(tmp_path / "lenet.dot"))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "lenet.dot").read_text()
    assert 'label="28x28x6"' in text and 'label="5x5x16"' in text
    assert "2,416 params" in text and "lenet  (61,706 params)" in text


def test_cli_shapes_of_resnet152_come_without_keras_and_in_seconds(tmp_path):
    """The Keras-free pass follows every node of the library (tests/model/test_shapes.py checks its shapes
    against a real build), so a drawing with shapes imports no Keras and allocates no weight: ResNet152 draws
    as fast as without shapes (bench/render_speed.py times the whole process), where a build took 10-14 s."""
    out, big = tmp_path / "r152.dot", ["--set", "depth3=8", "--set", "depth4=36"]
    code = ("import sys; from builder.cli import main\n"
            f"try:\n    main(['render', sys.argv[1], '-o', sys.argv[2], '--shapes', *{big!r}])\n"
            "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'")
    result = subprocess.run([sys.executable, "-c", code, str(SPECS / "resnet50.yaml"), str(out)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert 'label="resnet50  (60,419,944 params)"' in text     # keras.applications.ResNet152's count, not estimated
    assert 'label="56x56x256"' in text and 'label="7x7x2048"' in text
    start = time.perf_counter()
    result = run_cli("render", str(SPECS / "resnet50.yaml"), "-o", str(tmp_path / "again.dot"), "--shapes", *big)
    assert result.exit_code == 0 and (tmp_path / "again.dot").read_text() == text
    assert time.perf_counter() - start < 3


def test_cli_shapes_of_a_layer_the_pass_cannot_follow_come_from_keras(tmp_path):
    pytest.importorskip("keras")
    spec = write_spec(tmp_path, """
        inputs: {x: {shape: [4, 8]}}
        layers:
          - {id: mixed, type: EinsumDense, equation: "abc,cd->abd", output_shape: [4, 3], bias_axes: d}
          - {id: after, type: Dense, units: 2}
    """)
    result = run_cli("render", str(spec), "-o", str(tmp_path / "m.dot"), "--shapes")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "m.dot").read_text()
    assert 'label="4x3"' in text and 'label="spec  (35 params)"' in text   # counted, not estimated


def test_cli_a_spec_keras_refuses_is_drawn_without_shapes_and_said_where(tmp_path):
    pytest.importorskip("keras")
    spec = write_spec(tmp_path, """
        inputs: {a: {shape: [3]}, b: {shape: [4]}}
        layers:
          - {id: sum, type: Add, inputs: [a, b]}
    """)   # the Keras-free pass could guess (3,): it leaves the node to Keras, which refuses it
    asked = run_cli("render", str(spec), "-o", str(tmp_path / "asked.dot"), "--shapes")
    assert asked.exit_code == 1 and not (tmp_path / "asked.dot").exists()
    assert "spec.yaml:3:5: error: node 'sum' (Add) cannot take input (None, 3) from 'a', (None, 4) from 'b'" \
        in asked.stderr
    default = run_cli("render", str(spec), "-o", str(tmp_path / "default.dot"))
    assert default.exit_code == 0 and "note: drawing without shapes, the model does not build" in default.stderr
    assert "node 'sum' (Add) cannot take input" in default.stderr
    assert 'label="3"' not in (tmp_path / "default.dot").read_text()   # no edge labelled with a shape
