"""The spec's `diagram:` section and render's flags over it: the fields a box shows, colours and shapes per
layer type and per tag, folding activations and normalisations into the node before, the legend, the depth."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner
from spec_helpers import graph_of, write_spec
from test_render import expected_clusters, expected_edges, label_of, parse_dot

from builder.cli import main
from builder.errors import SpecError
from builder.graph.diagram import Diagram, DiagramFlagError
from builder.graph.render import render

# Conv -> BN -> ReLU in a tagged block (twice); the second instance's BN output is also read by a skip
# connection, so its ReLU must not fold; a tagged Dense with an Activation after it.
SPEC = """
    name: tagged
    inputs: {image: {shape: [8, 8, 1]}}
    blocks:
      unit:
        params: {filters: null}
        layers:
          - {id: conv, type: Conv2D, filters: "${filters}", kernel_size: 3, padding: same}
          - {id: bn, type: BatchNormalization}
          - {id: act, type: ReLU}
    layers:
      - {id: first, block: unit, with: {filters: 4}, tags: [encoder]}
      - {id: second, block: unit, with: {filters: 4}, tags: [encoder]}
      - {id: skip, type: Add, inputs: [second.bn, second.act]}
      - {type: Flatten}
      - {id: code, type: Dense, units: 8, tags: [bottleneck, encoder]}
      - {id: act, type: Activation, activation: relu}
      - {id: logits, type: Dense, units: 3}
"""


def with_section(section: str) -> str:
    return SPEC + "    diagram:\n" + textwrap.indent(textwrap.dedent(section).strip() + "\n", " " * 6)


def draw(tmp_path, section: str = "", **kwargs) -> dict:
    return parse_dot(render(graph_of(tmp_path, with_section(section) if section else SPEC), **kwargs))


def lines(dot: dict, node: str) -> list[str]:
    return label_of(dot, "tagged/" + node).split("\\n")


def attrs(dot: dict, node: str) -> str:
    return dot["attrs"]["tagged/" + node]


# --- tags in the graph ---------------------------------------------------------------------------------

def test_nodes_carry_their_own_tags_then_their_block_uses(tmp_path):
    nodes = graph_of(tmp_path, SPEC).models["tagged"].nodes
    assert nodes["first.conv"].tags == ("encoder",)                 # from the block use
    assert nodes["code"].tags == ("bottleneck", "encoder")          # its own, in order
    assert nodes["logits"].tags == ()
    assert nodes["first.conv"].scopes[0].tags == ("encoder",)
    nested = graph_of(tmp_path / "nested", """
        inputs: {x: {shape: [4]}}
        blocks:
          inner:
            layers: [{id: d, type: Dense, units: 2, tags: [own]}]
          outer:
            layers: [{id: i, block: inner, tags: [mid]}]
        layers:
          - {id: o, block: outer, tags: [top, mid]}
    """)
    assert nested.models["spec"].nodes["o.i.d"].tags == ("own", "mid", "top")   # innermost first, once each


# --- what a box shows -------------------------------------------------------------------------------------

def test_by_default_a_box_shows_the_arguments_that_matter_and_its_parameters(tmp_path):
    dot = draw(tmp_path, params={"tagged": {"first.conv": 40}})
    assert lines(dot, "first.conv") == ["conv : Conv2D", "filters=4  kernel_size=3", "padding=same", "40 params"]
    assert render(graph_of(tmp_path, SPEC)) == render(graph_of(tmp_path / "same", with_section(
        "show: [arguments, params]")))


def test_show_lists_the_fields_in_its_order(tmp_path):
    shapes = {"tagged": {"image": (None, 8, 8, 1), "first.conv": (None, 8, 8, 4), "code": (None, 8)}}
    params = {"tagged": {"first.conv": 40, "code": 264}}
    dot = draw(tmp_path, "show: [output_shape, padding, strides, activation, trainable, dtype, units, params, macs]",
               shapes=shapes, params=params)
    # arguments by name: the spec's value, else the layer's default; none where the layer has no such argument
    assert lines(dot, "first.conv") == ["conv : Conv2D", "output 8x8x4", "padding=same  strides=1x1",
                                        "activation=null  trainable=true", "dtype=float32", "40 params",
                                        "2.3 k MACs"]
    assert lines(dot, "code")[:3] == ["code : Dense", "output 8", "activation=null  trainable=true"]
    assert lines(dot, "code")[3:5] == ["dtype=float32  units=8", "264 params"]
    # no shape known, no count, no argument of those names: only what the layer has
    assert lines(dot, "flatten_1") == ["flatten_1 : Flatten", "trainable=true  dtype=float32"]


def test_every_field_the_spec_may_name_is_drawn():
    from builder.graph.render import LINE_FIELDS
    from builder.language.spec.diagram import FIELDS, argument_names

    assert set(LINE_FIELDS) <= set(FIELDS)
    assert set(FIELDS) - set(LINE_FIELDS) - {"arguments"} <= set(argument_names())   # the rest are arguments


def test_show_names_a_field_once_even_when_arguments_shows_it_too(tmp_path):
    dot = draw(tmp_path, "show: [arguments, padding, units]")
    assert lines(dot, "first.conv") == ["conv : Conv2D", "filters=4  kernel_size=3", "padding=same"]
    assert lines(dot, "logits") == ["logits : Dense", "units=3"]


# --- colours and shapes -----------------------------------------------------------------------------------

def test_types_and_tags_colour_and_shape_boxes_own_tags_winning(tmp_path):
    dot = draw(tmp_path, """
        types: {Dense: {fill: "#FFE0B2", shape: box3d}, Convolution2D: {border: navy}}
        tags:
          encoder: {fill: lightblue, label: the encoder}
          bottleneck: {border: crimson, shape: hexagon}
    """)
    # a type (an alias names its layer), then the block use's tag over it
    assert 'fillcolor="lightblue", color="navy"' in attrs(dot, "first.conv")
    assert 'fillcolor="lightblue", color="#FBC02D"' in attrs(dot, "second.bn")      # normalization's border
    # own tags first: bottleneck's border and shape, then encoder's fill, over Dense's fill and shape
    assert 'fillcolor="lightblue", color="crimson", shape="hexagon"' in attrs(dot, "code")
    assert 'fillcolor="#FFE0B2", color="#FFA726", shape="box3d"' in attrs(dot, "logits")
    assert 'fillcolor="#D7CCC8"' in attrs(dot, "skip") and "shape=" not in attrs(dot, "skip")   # no style: family


def test_a_block_drawn_as_one_box_takes_its_use_tags(tmp_path):
    dot = draw(tmp_path, "tags: {encoder: {fill: lightblue}}\ndepth: 0")
    assert 'fillcolor="lightblue"' in dot["attrs"]["tagged/block:first"]
    assert "tagged/first.conv" not in dot["nodes"]


# --- the legend -----------------------------------------------------------------------------------------

def legend(dot: dict) -> list[str]:
    return [label_of(dot, name) for name in dot["legend"]]


def test_the_legend_lists_the_families_types_and_tags_drawn(tmp_path):
    dot = draw(tmp_path, """
        types: {Dense: {shape: box3d}, LSTM: {fill: pink}}
        tags: {encoder: {fill: lightblue, border: navy, label: the encoder}, bottleneck: {shape: hexagon}}
    """)
    # convolution and normalization are drawn with the encoder's colours only: not listed; LSTM is not drawn
    assert legend(dot) == ["input / output", "dense / embedding", "merge", "activation / dropout", "reshape",
                           "Dense", "the encoder", "bottleneck"]
    assert 'shape="box3d"' in dot["attrs"]["legend/type:Dense"]
    assert 'fillcolor="lightblue", color="navy"' in dot["attrs"]["legend/tag:encoder"]
    hidden = draw(tmp_path / "no", "legend: false")
    assert hidden["legend"] == [] and "cluster_legend" not in hidden["clusters"]


# --- folding ---------------------------------------------------------------------------------------------

def test_an_activation_after_a_conv_folds_into_it_with_edges_rewired_and_params_summed(tmp_path):
    graph = graph_of(tmp_path, with_section("fold: [activation, normalization]"))
    params = {"tagged": {"first.conv": 40, "first.bn": 16, "second.conv": 148, "second.bn": 16, "code": 264,
                         "logits": 27}}
    shapes = {"tagged": {"first.conv": (None, 8, 8, 4), "first.bn": (None, 8, 8, 4), "first.act": (None, 8, 8, 5)}}
    dot = parse_dot(render(graph, params=params, shapes=shapes))
    assert lines(dot, "first.conv") == ["conv : Conv2D", "+ BatchNormalization  + ReLU", "filters=4  kernel_size=3",
                                        "padding=same", "56 params"]
    assert "tagged/first.bn" not in dot["nodes"] and "tagged/first.act" not in dot["nodes"]
    # what read the folded ReLU reads the conv, the edge labelled with the ReLU's output
    labels = {(a, b): rest for a, b, rest in dot["edges"]}
    assert 'label="8x8x5"' in labels[("tagged/first.conv", "tagged/second.conv")]
    # second.bn is read by the skip too: it folds into its conv, but the ReLU after it stays, reading the conv
    assert lines(dot, "second.conv")[:2] == ["conv : Conv2D", "+ BatchNormalization"]
    assert "tagged/second.bn" not in dot["nodes"] and "tagged/second.act" in dot["nodes"]
    assert {("tagged/second.conv", "tagged/second.act"), ("tagged/second.conv", "tagged/skip")} <= set(dot["pairs"])
    assert lines(dot, "code") == ["code : Dense", "+ relu", "units=8", "264 params"]
    assert ("tagged/code", "tagged/logits") in dot["pairs"]
    assert len(dot["nodes"]) == graph.node_count() + 1 - 4       # + the output, - first.bn, first.act, second.bn, act
    assert len(dot["edges"]) == expected_edges(graph) - 4       # each folded node's own input edge
    assert len(dot["clusters"]) == expected_clusters(graph)


def test_fold_only_the_families_named_and_never_a_wrapper(tmp_path):
    dot = draw(tmp_path, "fold: [normalization]")
    assert lines(dot, "first.conv")[1] == "+ BatchNormalization" and "tagged/first.act" in dot["nodes"]
    wrapped = parse_dot(render(graph_of(tmp_path / "sn", """
        inputs: {x: {shape: [4]}}
        layers:
          - {id: d, type: Dense, units: 4}
          - {id: sn, type: SpectralNormalization, layer: {type: Dense, units: 2}}
        diagram: {fold: [normalization]}
    """)))
    assert "spec/sn" in wrapped["nodes"]                  # its Dense would vanish inside d


def test_folded_nodes_in_collapsed_repeats_draw_once(tmp_path):
    graph = graph_of(tmp_path, """
        inputs: {x: {shape: [8, 8, 1]}}
        blocks:
          unit:
            layers:
              - {id: conv, type: Conv2D, filters: 2, kernel_size: 3, padding: same}
              - {id: act, type: ReLU}
        layers:
          - {id: body, block: unit, repeat: 3}
        diagram: {fold: [activation], collapse: true}
    """)
    dot = parse_dot(render(graph))
    assert dot["nodes"] == ["spec/x", "spec/body_1.conv", "spec/output:0"]
    assert dot["pairs"] == [("spec/x", "spec/body_1.conv"), ("spec/body_1.conv", "spec/output:0")]


# --- depth, collapse, rankdir ----------------------------------------------------------------------------

def test_the_section_sets_depth_collapse_and_rankdir_and_render_arguments_win(tmp_path):
    graph = graph_of(tmp_path, with_section("depth: 0\nrankdir: LR"))
    text = render(graph)
    assert "rankdir=LR" in text and "tagged/block:first" in parse_dot(text)["nodes"]
    assert "tagged/first.conv" in parse_dot(render(graph, depth=None, rankdir="TB"))["nodes"]
    assert render(graph, depth="all") == render(graph, depth=None)


# --- the command line ------------------------------------------------------------------------------------

def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_flags_override_the_section(tmp_path):
    spec = write_spec(tmp_path, with_section("""
        show: [units]
        tags: {encoder: {fill: lightblue}}
        fold: [activation, normalization]
        legend: false
        depth: 0
    """))
    out = tmp_path / "d.dot"
    assert run("render", spec, "-o", out, "--no-shapes").exit_code == 0
    dot = parse_dot(out.read_text())
    assert "tagged/block:first" in dot["nodes"] and dot["legend"] == []
    assert lines(dot, "logits") == ["logits : Dense", "units=3"]
    result = run("render", spec, "-o", out, "--no-shapes", "--show", "filters,params", "--show", "padding",
                 "--style", "encoder=border:navy,shape:cds", "--style", "Dense=fill:#FFEEDD", "--fold", "none",
                 "--legend", "--depth", "all")
    assert result.exit_code == 0, result.output
    dot = parse_dot(out.read_text())
    assert lines(dot, "first.conv")[1:] == ["filters=4", "40 params", "padding=same"]   # the fields, in order
    assert "tagged/first.bn" in dot["nodes"]                               # nothing folds
    assert 'fillcolor="lightblue", color="navy", shape="cds"' in attrs(dot, "first.conv")   # merged key by key
    assert 'fillcolor="#FFEEDD"' in attrs(dot, "logits")
    assert "encoder" in legend(dot)


@pytest.mark.parametrize("flags, message", [
    (("--show", "filtres"), "Invalid value for '--show': unknown diagram field 'filtres'; did you mean 'filters'?"),
    (("--fold", "activations"), "Invalid value for '--fold': unknown layer family 'activations'; did you mean "
                                "'activation'?"),
    (("--style", "encodr=fill:red"), "Invalid value for '--style': 'encodr' is no layer type, and no node or block "
                                     "use has the tag 'encodr'; did you mean 'encoder'?"),
    (("--style", "Dense=fill:lightblu"), "Received: fill='lightblu'; did you mean 'lightblue'?"),
    (("--style", "Dense=colour:red"), "unknown style key 'colour' in 'Dense=colour:red'; the keys: fill, border"),
    (("--style", "Dense=shape:hexagn"), "unknown shape 'hexagn'; did you mean 'hexagon'?"),
    (("--style", "Dense"), "expected NAME=KEY:VALUE,..."),
])
def test_cli_flag_mistakes_are_usage_errors_with_the_closest_name(tmp_path, flags, message):
    spec = write_spec(tmp_path, SPEC)
    result = run("render", spec, "-o", tmp_path / "d.dot", "--no-shapes", *flags)
    assert result.exit_code == 2 and message in " ".join(result.stderr.split()), result.stderr
    assert "Traceback" not in result.output and not (tmp_path / "d.dot").exists()


def test_with_flags_keeps_what_no_flag_says():
    base = Diagram(show=("units",), fold=("activation",), legend=False, depth=2)
    assert base.with_flags() == base
    assert base.with_flags(depth="all", legend=True) == Diagram(show=("units",), fold=("activation",), depth="all")
    with pytest.raises(DiagramFlagError, match="did you mean 'params'"):
        base.with_flags(show=("parms",))


def test_render_with_a_section_never_imports_keras_without_shapes(tmp_path):
    spec = write_spec(tmp_path, with_section("show: [output_shape, macs, params]\nfold: [activation]\n"
                                             "tags: {encoder: {fill: lightblue}}"))
    code = ("import sys; from builder.cli import main; "
            "main(['render', sys.argv[1], '-o', sys.argv[2], '--no-shapes', '--style', 'Dense=shape:box3d'], "
            "standalone_mode=False); "
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'")
    subprocess.run([sys.executable, "-c", code, str(spec), str(tmp_path / "d.dot")], check=True, capture_output=True)
    assert 'shape="box3d"' in (tmp_path / "d.dot").read_text()


def test_the_python_api_and_the_build_diagram_draw_as_the_section_says(tmp_path):
    import builder
    from builder.graph.render import write_diagram

    spec = write_spec(tmp_path, with_section("fold: [normalization]\nrankdir: LR"))
    text = builder.render(str(spec))
    assert "rankdir=LR" in text and "+ BatchNormalization" in text
    assert "rankdir=TB" in builder.render(str(spec), rankdir="TB")
    write_diagram(graph_of(tmp_path, spec.read_text()), tmp_path / "build.dot")   # build's and a run's diagram
    assert "+ BatchNormalization" in (tmp_path / "build.dot").read_text()


def test_resolve_keeps_tags_and_the_section(tmp_path):
    spec = write_spec(tmp_path, with_section("tags: {encoder: {fill: lightblue}, bottleneck: {shape: hexagon}}\n"
                                             "fold: [activation]"))
    resolved = run("resolve", spec)
    assert resolved.exit_code == 0, resolved.output
    again = write_spec(tmp_path, resolved.stdout, "resolved.yaml")
    drawn = [render(graph_of(tmp_path, text, None)) for text in (spec.read_text(), again.read_text())]
    # first.conv, first.bn (its ReLU folded in), second.conv, .bn, .act (the skip reads the bn), code; the legend
    assert drawn[0].count("lightblue") == drawn[1].count("lightblue") == 6 + 1
    assert 'shape="hexagon"' in drawn[1]


def test_a_tag_misspelt_in_the_section_is_located(tmp_path):
    with pytest.raises(SpecError) as error:
        graph_of(tmp_path, with_section("tags: {encodr: {fill: lightblue}}"))
    [problem] = error.value.problems
    assert problem.message == "no node or block use has the tag 'encodr'" and problem.hint == "did you mean 'encoder'?"
    assert (problem.location.line, problem.location.column) == (19, 10)   # the key, under `diagram:`
