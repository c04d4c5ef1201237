"""Resolve: conditionals (`when`, `a if c else b`), `${repeat_index}`/`${repeats}`, `repeat: 0` and `chain`.

Each test writes the small spec a user would, resolves it, and looks at the graph's nodes and edges:
what a node left out passes through, what each repeat of a chained multi-input block reads.
"""

from __future__ import annotations

import pytest

from builder.errors import SpecError
from builder.graph import load_graph
from builder.graph.expressions import _ExprError, evaluate
from builder.graph.ir import Graph
from builder.graph.render import render
from builder.language.loader import load_text


def graph_of(text: str, **overrides) -> Graph:
    return load_graph(load_text(text, "spec.yaml"), overrides)


def wiring(text: str, **overrides) -> dict[str, list[str]]:
    """node id -> what it reads, for the graph's only model (keyword inputs after the positional ones)."""
    (model,) = graph_of(text, **overrides).models.values()
    return {node.id: [str(ref) for ref in node.sources] for node in model.nodes.values()}


def problems_of(text: str, **overrides) -> list[str]:
    with pytest.raises(SpecError) as caught:
        graph_of(text, **overrides)
    return [f"{p.location.line}:{p.location.column}: {p.message}" for p in caught.value.problems]


# --- expressions: comparisons, and/or/not, a if c else b ----------------------------------------------

PARAMS = {"ratio": 6, "stride": 2, "act": "relu", "residual": True, "zero": 0}


@pytest.mark.parametrize("expression, value", [
    ("ratio != 1", True), ("ratio == 6.0", True), ("0 < ratio <= 6", True), ("1 < stride < 2", False),
    ("stride == 1 and ratio > 1", False), ("stride == 1 or ratio > 1", True), ("not residual", False),
    ("act == 'relu'", True), ('act != "gelu"', True), ("residual == true", True), ("residual != false", True),
    ("'valid' if stride == 2 else 'same'", "valid"), ("ratio * 16 if ratio != 1 else 16", 96),
    ("64 // zero if zero != 0 else 64", 64),                 # the side not taken is not evaluated
    ("zero != 0 and ratio / zero > 1", False), ("zero == 0 or ratio / zero > 1", True),
    ("max(8, int(ratio * 16 * 0.25 + 4) // 8 * 8)", 24), ("true", True),
])
def test_expressions_compare_combine_and_choose(expression, value):
    assert evaluate(expression, PARAMS, set()) == value


@pytest.mark.parametrize("expression, message", [
    ("act == 1", "'act == 1' compares the text 'relu' with the number 1: == and != compare numbers with numbers"),
    ("act < 'z'", "compares the text 'relu' with the text 'z': < compares numbers"),
    ("residual == 1", "compares true with the number 1"),
    ("ratio and residual", "`and` takes true or false; in 'ratio and residual' it gets the number 6"),
    ("not ratio", "`not` takes true or false"),
    ("1 if ratio else 2", "the condition of `a if condition else b` takes true or false"),
    ("residual + 1", "arithmetic needs numbers"),
    ("act * 2", "arithmetic needs numbers"),
    ("1 if zero == 0 else ratoi", "unknown parameter 'ratoi' (did you mean 'ratio'?)"),   # found untaken too
    ("ratio in [1, 2]", "only numbers, parameter names, 'text', true, false"),
    ("ratio is 6", "only numbers, parameter names"),
    ("act.upper()", "only numbers, parameter names"),
    ("True", "only numbers, parameter names"),    # YAML's true, not Python's
    ("abs", "unknown parameter 'abs'"),
])
def test_expressions_refuse_what_is_not_in_the_grammar(expression, message):
    with pytest.raises(_ExprError) as caught:
        evaluate(expression, PARAMS, set())
    assert message in str(caught.value)


# --- when: nodes left out pass their first input through -------------------------------------------------

CONDITIONAL = """
params: {expand_ratio: 6, stride: 2, se: true}
inputs: {x: {shape: [16, 16, 8]}}
layers:
  - {id: expand, type: Conv2D, filters: "${8 * expand_ratio}", kernel_size: 1, when: "${expand_ratio != 1}"}
  - {id: pad, type: ZeroPadding2D, padding: [[0, 1], [0, 1]], when: "${stride == 2}"}
  - {id: dw, type: DepthwiseConv2D, kernel_size: 3, strides: "${stride}",
     padding: "${'valid' if stride == 2 else 'same'}"}
  - {type: Conv2D, filters: 8, kernel_size: 1, when: "${se}"}
  - {type: Conv2D, filters: 8, kernel_size: 1}
  - {id: add, type: Add, inputs: [-1, x], when: "${stride == 1}"}
  - {id: skip2, type: Activation, activation: relu, inputs: -3}
outputs: [add, skip2]
"""


def test_a_node_left_out_passes_its_input_to_every_kind_of_reference():
    assert wiring(CONDITIONAL) == {
        "x": [], "expand": ["x"], "pad": ["expand"], "dw": ["pad"], "conv2d_1": ["dw"], "conv2d_2": ["conv2d_1"],
        "skip2": ["conv2d_1"]}
    (model,) = graph_of(CONDITIONAL).models.values()
    assert [str(r) for r in model.outputs] == ["conv2d_2", "skip2"]     # `add` left out: its first input
    assert model.nodes["dw"].args["padding"] == "valid"

    # every optional node out: ids that stay read through them, `-3` counts the places as written (conv2d_1's,
    # which passes dw through), and an
    # unnamed node left out keeps its automatic id (the next Conv2D is still conv2d_2)
    assert wiring(CONDITIONAL, expand_ratio=1, stride=1, se=False) == {
        "x": [], "dw": ["x"], "conv2d_2": ["dw"], "add": ["conv2d_2", "x"], "skip2": ["dw"]}


def test_a_merge_left_out_passes_its_first_input_and_keyword_inputs_their_main_one():
    assert wiring("""
params: {use: false}
inputs: {q: {shape: [4, 8]}, m: {shape: [6, 8]}}
layers:
  - {id: attend, type: MultiHeadAttention, num_heads: 2, key_dim: 4, inputs: {query: q, value: m}, when: "${use}"}
  - {id: sum, type: Add, inputs: [attend, q], when: "${use}"}
  - {id: out, type: Dense, units: 2, inputs: [sum]}
  - {id: side, type: Dense, units: 2, inputs: m}
outputs: [out, side]
""") == {"q": [], "m": [], "out": ["q"], "side": ["m"]}


def test_a_node_left_out_is_not_filled_in_or_checked_but_its_references_are():
    spec = """
params: {hidden: 0}
inputs: {x: {shape: [4]}}
layers:
  - {id: h, type: Dense, units: "${hidden}", when: "${hidden > 0}"}
  - {id: out, type: Dense, units: 2}
"""
    assert wiring(spec) == {"x": [], "out": ["x"]}      # units: 0 would be an error if the node were made
    assert wiring(spec, hidden=3) == {"x": [], "h": ["x"], "out": ["h"]}
    assert problems_of(spec.replace("when:", "inputs: y, when:")) == [
        "5:54: node 'h' reads 'y', which is not a node or input"]


def test_a_block_whose_output_node_is_left_out_outputs_what_that_node_passed_through():
    spec = """
blocks:
  res:
    params: {residual: true}
    layers:
      - {id: conv, type: Dense, units: 4}
      - {id: sum, type: Add, inputs: [conv, $in], when: "${residual}"}
    output: sum
inputs: {x: {shape: [4]}}
layers:
  - {id: a, block: res}
  - {id: b, block: res, with: {residual: false}}
  - {id: head, type: Dense, units: 2, inputs: b}
"""
    assert wiring(spec) == {"x": [], "a.conv": ["x"], "a.sum": ["a.conv", "x"], "b.conv": ["a.sum"],
                            "head": ["b.conv"]}


def test_a_block_use_left_out_and_repeat_0_pass_the_instance_first_input_through():
    spec = """
params: {depth: 1, squeeze: false}
blocks:
  unit: {layers: [{id: d, type: Dense, units: 4}]}
  pair:
    inputs: [a, b]
    layers: [{id: sum, type: Add, inputs: [$a, $b]}]
inputs: {x: {shape: [4]}, y: {shape: [4]}}
layers:
  - {id: stem, type: Dense, units: 4, inputs: x}
  - {id: extra, block: unit, repeat: "${depth - 1}"}
  - {id: se, block: pair, inputs: [extra, y], when: "${squeeze}"}
  - {id: head, type: Dense, units: 2, inputs: se}
  - {id: side, type: Dense, units: 2, inputs: y}
outputs: [head, side]
"""
    assert wiring(spec) == {"x": [], "y": [], "stem": ["x"], "head": ["stem"], "side": ["y"]}
    assert wiring(spec, depth=3, squeeze=True) == {
        "x": [], "y": [], "stem": ["x"], "extra_1.d": ["stem"], "extra_2.d": ["extra_1.d"],
        "se.sum": ["extra_2.d", "y"], "head": ["se.sum"], "side": ["y"]}


def test_set_and_search_paths_switch_a_node_in_or_out():
    spec = """
inputs: {x: {shape: [4]}}
layers:
  - {id: extra, type: Dense, units: 4}
  - {id: out, type: Dense, units: 2}
"""
    assert wiring(spec, **{"layers.extra.when": False}) == {"x": [], "out": ["x"]}
    searched = spec + """
blocks: {unit: {layers: [{type: Dense, units: 4}]}}
search:
  objective: {metric: params}
  space:
    layers.extra.when: {type: choice, values: [true, false]}
    layers.more.repeat: {type: int, low: 0, high: 3}
"""
    searched = searched.replace("  - {id: out", "  - {id: more, block: unit}\n  - {id: out")
    assert "more.dense_1" in wiring(searched)        # each end of each range placed in the spec validates
    assert problems_of(searched.replace("low: 0", "low: -1")) == [
        "13:25: search path 'layers.more.repeat': the value -1 gives an invalid spec: block instance 'more': expected "
        "a repeat count from 0 to 1000. Received: repeat=-1"]


def test_nodes_left_out_that_read_each_other_are_a_located_cycle():
    assert problems_of("""
inputs: {x: {shape: [4]}}
layers:
  - {id: a, type: Dense, units: 4, inputs: b, when: false}
  - {id: b, type: Dense, units: 4, inputs: a, when: false}
  - {id: out, type: Dense, units: 2, inputs: a}
""") == ["4:5: nodes left out (`when` false) pass each other's input through in a cycle: a -> b -> a"]


# --- repeat_index and repeats -----------------------------------------------------------------------------

def test_repeat_index_counts_from_0_inside_a_block_and_in_a_use_with_values():
    spec = """
params: {drop: 0.4}
blocks:
  unit:
    params: {offset: 0, total: 8, scale: 1}
    layers:
      - {id: d, type: Dense, units: "${4 * scale}", when: "${repeat_index < repeats - 1 or repeats == 1}"}
      - {id: drop, type: Dropout, rate: "${drop * (offset + repeat_index) / total}"}
  stage:
    params: {n: 2}
    layers:
      - {id: u, block: unit, repeat: "${n}", with: {offset: "${10 * repeat_index}", scale: "${repeats}"}}
inputs: {x: {shape: [4]}}
layers:
  - {id: s, block: unit, repeat: 3, with: {offset: 2}}
  - {id: t, block: stage, repeat: 2, with: {n: 2}}
"""
    (model,) = graph_of(spec).models.values()
    rates = {node.id: node.args["rate"] for node in model.nodes.values() if node.type == "Dropout"}
    assert rates == pytest.approx({"s_1.drop": 0.1, "s_2.drop": 0.15, "s_3.drop": 0.2,
                                   "t_1.u_1.drop": 0.0, "t_1.u_2.drop": 0.55, "t_2.u_1.drop": 0.0,
                                   "t_2.u_2.drop": 0.55})
    assert "s_3.d" not in model.nodes and model.nodes["s_3.drop"].inputs[0].node == "s_2.drop"   # the last: out
    assert model.nodes["t_1.u_1.d"].args["units"] == 8      # `with` sees the use's own repeats (2)


# --- chain: what a repeated multi-input block's other inputs read -----------------------------------------------

CELL = """
params: {f: 8}
blocks:
  cell:
    params: {filters: null}
    inputs: [in, prev]
    layers:
      - {id: p, type: Conv2D, filters: "${filters}", kernel_size: 1, inputs: $prev}
      - {id: h, type: Conv2D, filters: "${filters}", kernel_size: 1, inputs: $in}
      - {id: sum, type: Add, inputs: [h, p]}
      - {id: out, type: Concatenate, inputs: [sum, h]}
inputs: {image: {shape: [8, 8, 3]}}
layers:
  - {id: stem, type: Conv2D, filters: "${f}", kernel_size: 3, padding: same}
  - {id: stem2, type: Conv2D, filters: "${f}", kernel_size: 3, padding: same}
"""
CHAINED = CELL + "  - {id: cell, block: cell, repeat: 4, inputs: [stem2, stem], with: {filters: 8}, chain: {prev: $in}}\n"
UNROLLED = CELL + "".join(f"  - {{id: cell_{k}, block: cell, inputs: [{a}, {b}], with: {{filters: 8}}}}\n" for k, a, b in [
    (1, "stem2", "stem"), (2, "cell_1", "stem2"), (3, "cell_2", "cell_1"), (4, "cell_3", "cell_2")])


def test_chain_prev_in_reads_the_two_outputs_before_as_nasnet_cells_do():
    chained = wiring(CHAINED)
    assert chained == wiring(UNROLLED)      # the same nodes, ids and edges as the four cells written out
    assert chained["cell_2.p"] == ["stem2"] and chained["cell_3.p"] == ["cell_1.out"]
    assert chained["cell_4.h"] == ["cell_3.out"] and chained["cell_4.p"] == ["cell_2.out"]


@pytest.mark.parametrize("source, reads", [
    ("fixed", ["stem", "stem", "stem", "stem"]),           # a decoder's memory
    ("$prev", ["stem", "stem", "stem", "stem"]),           # what the repeat before read as $prev: the same
    ("sum", ["stem", "cell_1.sum", "cell_2.sum", "cell_3.sum"]),     # a node of the repeat before
])
def test_chain_takes_fixed_an_input_or_a_node_of_the_repeat_before(source, reads):
    chained = wiring(CHAINED.replace("chain: {prev: $in}", f"chain: {{prev: {source}}}"))
    assert [chained[f"cell_{k}.p"] for k in (1, 2, 3, 4)] == [[r] for r in reads]


def test_a_repeated_multi_input_block_without_chain_is_an_error_naming_it():
    plain = CHAINED.replace(", chain: {prev: $in}", "")
    assert problems_of(plain) == ["16:37: block 'cell' takes 2 inputs (in, prev) and repeats: say what 'prev' "
                                  "reads from the second repeat on"]
    assert wiring(plain.replace("repeat: 4", "repeat: 1"))      # used once: nothing to say
    assert problems_of(plain.replace("repeat: 4", 'repeat: "${f // 8}"'))   # a ${...} of 1 today: said anyway


def test_the_diagram_draws_the_chained_edges_and_collapsed_none_that_is_not_there():
    def edges(dot: str) -> set[tuple[str, str]]:
        pairs = (line.split("[")[0].strip().rstrip(";").split(" -> ") for line in dot.splitlines() if " -> " in line)
        return {(a.strip('"').split("/")[-1], b.strip('"').split("/")[-1]) for a, b, *_ in pairs}

    graph = graph_of(CHAINED)
    drawn = edges(render(graph))
    assert {("stem2", "cell_2.p"), ("cell_1.out", "cell_3.p"), ("cell_2.out", "cell_4.p")} <= drawn
    collapsed = edges(render(graph, collapse=True))
    assert ("stem", "cell_1.p") in collapsed and ("stem2", "cell_1.p") not in collapsed   # stem2: repeat 2 on
