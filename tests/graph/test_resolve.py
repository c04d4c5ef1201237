"""Stage 3, resolve: parameters, block expansion, references and graph checks.

The first half runs small specs through load -> parse -> resolve and looks at
the graph: `${...}` expressions, `per_repeat`, qualified ids, a block
instance's id as an alias of its output, Keras-style automatic ids. The
second half checks the clean specs in tests/good_specs/: they pass, have the
expected nodes, and agree with the committed JSON Schema.
"""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import pytest
from click.testing import CliRunner
from spec_helpers import ROOT, TESTS

from builder.cli import main
from builder.errors import SpecError
from builder.graph import expand, expressions, load_graph
from builder.graph.expressions import evaluate
from builder.graph.ir import Graph, Ref
from builder.language.loader import load, load_text

GOOD_SPECS = TESTS / "good_specs"


def graph_of(text: str, **overrides) -> Graph:
    return load_graph(load_text(text, "spec.yaml"), overrides)


def nodes_of(text: str, **overrides) -> dict:
    graph = graph_of(text, **overrides)
    (model,) = graph.models.values()
    return model.nodes


def problems_of(text: str, **overrides) -> list[str]:
    with pytest.raises(SpecError) as caught:
        graph_of(text, **overrides)
    return [f"{p.location.line}:{p.location.column}: {p.message}" for p in caught.value.problems]


# --- parameter expressions ----------------------------------------------------------------------------

@pytest.mark.parametrize("expression, value", [
    ("width", 32), ("width * 2", 64), ("width // 3", 10), ("width / 4", 8.0), ("width % 5", 2),
    ("(width + 8) * 2", 80), ("-width", -32), ("+width", 32), ("width * rate", 16.0), ("1e3", 1000.0),
    ("width - 2 * depth", 26), ("int(width * 1.5)", 48), ("int(-7 / 2)", -3), ("round(width * rate / 3)", 5),
    ("round(2.5)", 2), ("max(width // 4, 16)", 16), ("min(width, depth, 8)", 3), ("abs(depth - width)", 29),
])
def test_expressions_are_arithmetic_over_parameters(expression, value):
    used: set = set()
    assert evaluate(expression, {"width": 32, "depth": 3, "rate": 0.5}, used) == value
    assert used <= {"width", "depth", "rate"}


@pytest.mark.parametrize("expression, message", [
    ("__import__('os')", "only numbers, parameter names, 'text', true, false, + - * / // %, == != < <= > >=, and, or, not, `a if condition else b`, and int() round() min() max() abs() are allowed"),
    ("eval('1')", "only numbers, parameter names"),
    ("width.bit_length()", "only numbers, parameter names"),
    ("round(width, 2)", "round() takes 1 argument, not 2"),
    ("max(width)", "max() takes 2 to 8 arguments, not 1"),
    ("max(width, key=abs)", "only numbers, parameter names"),
    ("int(name)", "arithmetic needs numbers; 'int(name)' uses 'dense'"),
    ("int(1e300)", "is too large"),
    ("int(1e309)", "is too large"),
    ("-1e309 * 0", "is too large"),
    ("width.__class__", "only numbers, parameter names"),
    ("width ** 2", "only numbers, parameter names"),
    ("[width]", "only numbers, parameter names"),
    ("True + 1", "only numbers, parameter names"),
    ("widht", "unknown parameter 'widht' (did you mean 'width'?)"),
    ("width / 0", "division by zero"),
    ("width % (width - 32)", "division by zero"),
    ("name * 2", "arithmetic needs numbers; 'name * 2' uses 'dense'"),
    ("width * 99999999999 * 99999999999", "is too large"),
    ("width +", "cannot read the expression"),
    ("width\0", "cannot read the expression"),
    ("1" * 201, "an expression is at most 200 characters"),
])
def test_expressions_refuse_everything_else(expression, message):
    with pytest.raises(expressions._ExprError, match=None) as caught:
        evaluate(expression, {"width": 32, "name": "dense"}, set())
    assert message in str(caught.value)


def test_functions_in_block_expressions_are_not_taken_for_parameters():
    nodes = nodes_of("""
params: {width: 10}
inputs: {x: {shape: [4]}}
blocks:
  wide:
    params: {units: 8}
    layers:
      - {id: d, type: Dense, units: "${max(int(units * 1.5), 4)}"}
layers:
  - {id: w, block: wide, with: {units: "${round(width / 3)}"}}
""")
    assert nodes["w.d"].args["units"] == 4   # round(10 / 3) = 3; int(3 * 1.5) = 4; max(4, 4)


def test_a_lone_placeholder_keeps_the_parameter_type_and_text_is_filled_in():
    nodes = nodes_of("""
params: {size: [3, 3], act: relu, f: 8}
inputs: {image: {shape: [28, 28, 1]}}
layers:
  - {type: Conv2D, filters: "${f * 2}", kernel_size: "${size}", activation: "${act}"}
""")
    assert nodes["conv2d_1"].args == {"filters": 16, "kernel_size": [3, 3], "activation": "relu"}


def test_set_overrides_a_spec_parameter_and_results_are_checked_again():
    spec = "params: {width: 32}\ninputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: \"${width}\"}\n"
    assert nodes_of(spec)["dense_1"].args["units"] == 32
    assert nodes_of(spec, width=64)["dense_1"].args["units"] == 64
    assert problems_of(spec, width=0) == ["4:26: node 'dense_1': expected a positive integer. Received: units=0"]
    assert problems_of(spec, width="8") == ["4:26: node 'dense_1': expected a positive integer. Received: units='8'"]


def test_e_notation_in_a_block_expression_is_a_number_not_a_parameter():
    nodes = nodes_of("""
blocks:
  drop:
    params: {width: 8}
    layers: [{type: Dropout, rate: "${width * 1e-2}"}]
inputs: {x: {shape: [4]}}
layers: [{block: drop}]
""")
    assert nodes["drop_1.dropout_1"].args["rate"] == pytest.approx(0.08)


def test_a_block_default_may_use_spec_parameters():
    nodes = nodes_of("""
params: {width: 8}
blocks:
  dense:
    params: {units: "${width * 2}"}
    layers: [{type: Dense, units: "${units}"}]
inputs: {x: {shape: [4]}}
layers: [{block: dense}, {block: dense, with: {units: 3}}]
""", width=10)
    assert nodes["dense_1.dense_1"].args["units"] == 20 and nodes["dense_2.dense_1"].args["units"] == 3


# --- blocks: per_repeat, qualified ids, aliases, automatic ids ---------------------------------------

RESIDUAL = """
blocks:
  residual:
    params: {filters: null, stride: 1}
    layers:
      - {id: conv_a, type: Conv2D, filters: "${filters}", kernel_size: 3, strides: "${stride}", padding: same}
      - {type: BatchNormalization}
      - {type: ReLU}
      - {id: sum, type: Add, inputs: [-1, $in]}
inputs:
  image: {shape: [32, 32, 8]}
layers:
  - {type: Conv2D, filters: 8, kernel_size: 3, padding: same}
  - {id: stage1, block: residual, repeat: 3, with: {filters: 8}, per_repeat: [{stride: 2}, {filters: 16}]}
  - {id: after, type: ReLU, inputs: stage1}
  - {id: middle, type: ReLU, inputs: stage1_2}
  - {id: inner, type: ReLU, inputs: stage1_1.conv_a}
  - {type: Conv2D, filters: 8, kernel_size: 1, inputs: after}
  - {id: out, type: Concatenate, inputs: [-1, middle, inner]}
outputs: [out]
"""


def test_per_repeat_overrides_with_for_one_repeat_each():
    nodes = nodes_of(RESIDUAL)
    assert [(nodes[f"stage1_{r}.conv_a"].args["filters"], nodes[f"stage1_{r}.conv_a"].args["strides"])
            for r in (1, 2, 3)] == [(8, 2), (16, 1), (8, 1)]
    scope = nodes["stage1_2.sum"].scopes[0]
    assert (scope.id, scope.block, scope.repeat, scope.repeats, scope.group) == ("stage1_2", "residual", 2, 3,
                                                                                  "stage1")
    assert dict(scope.params) == {"filters": 16, "stride": 1}


def test_repeats_chain_and_qualified_ids_reach_inside_an_instance():
    nodes = nodes_of(RESIDUAL)
    assert nodes["stage1_1.conv_a"].inputs == (Ref("conv2d_1"),)
    assert nodes["stage1_2.conv_a"].inputs == (Ref("stage1_1.sum"),)      # the previous repeat's output
    assert nodes["stage1_2.sum"].inputs == (Ref("stage1_2.re_lu_1"), Ref("stage1_1.sum"))  # $in
    assert nodes["inner"].inputs == (Ref("stage1_1.conv_a"),)


def test_a_block_instance_id_is_an_alias_of_its_output():
    nodes = nodes_of(RESIDUAL)
    assert nodes["after"].inputs == (Ref("stage1_3.sum"),)    # stage1: the last repeat
    assert nodes["middle"].inputs == (Ref("stage1_2.sum"),)   # stage1_2: the second


def test_automatic_ids_follow_keras_and_restart_in_each_instance():
    nodes = nodes_of(RESIDUAL)
    assert "conv2d_1" in nodes and "conv2d_2" in nodes         # the two unnamed top-level Conv2D
    assert [n for n in nodes if n.startswith("stage1_1.")] == [
        "stage1_1.conv_a", "stage1_1.batch_normalization_1", "stage1_1.re_lu_1", "stage1_1.sum"]
    assert "stage1_3.batch_normalization_1" in nodes


def test_unnamed_block_uses_are_numbered_by_block_name():
    nodes = nodes_of("""
blocks:
  dense: {layers: [{id: d, type: Dense, units: 4}]}
inputs: {x: {shape: [4]}}
layers: [{block: dense}, {block: dense}, {type: Dense, units: 2, inputs: dense_1}]
""")
    # block instances and layers share the counter of their snake-case name, so ids never collide
    assert list(nodes) == ["x", "dense_1.d", "dense_2.d", "dense_3"]
    assert nodes["dense_3"].inputs == (Ref("dense_1.d"),)


def test_nested_blocks_qualify_ids_at_each_level_and_pass_parameters_down():
    graph = graph_of((GOOD_SPECS / "nested_blocks.yaml").read_text())
    nodes = graph.models["nested"].nodes
    assert nodes["high.second.conv"].args["filters"] == 16 and nodes["low.first.conv"].args["filters"] == 8
    assert [s.id for s in nodes["high.second.conv"].scopes] == ["high", "high.second"]
    assert nodes["low.second.conv"].inputs == (Ref("low.first.act"),)
    assert nodes["high.first.conv"].inputs == (Ref("low.pool"),)


def test_a_forward_reference_is_sorted_after_what_it_reads():
    nodes = nodes_of("""
inputs: {x: {shape: [4]}}
layers:
  - {id: late, type: Dense, units: 2, inputs: early}
  - {id: early, type: Dense, units: 2, inputs: x}
outputs: [late]
""")
    assert list(nodes) == ["x", "early", "late"]


def test_outputs_default_to_the_last_node_and_minus_one_means_the_same():
    text = "inputs: {x: {shape: [4]}}\nlayers:\n  - {type: Dense, units: 2}\n  - {type: Dense, units: 3}\n"
    assert graph_of(text).models["spec"].outputs == [Ref("dense_2")]
    assert graph_of(text + "outputs: [-1]\n").models["spec"].outputs == [Ref("dense_2")]


def test_a_node_leading_nowhere_is_a_warning_not_an_error():
    graph = graph_of("""
inputs: {x: {shape: [4]}}
layers:
  - {id: side, type: Dense, units: 2}
  - {id: main, type: Dense, units: 2, inputs: x}
outputs: [main]
""")
    (warning,) = graph.warnings
    assert (warning.severity, warning.location.line, warning.message) == (
        "warning", 4, "node 'side' does not lead to any output")


def test_errors_do_not_cascade_into_unused_input_errors():
    """A dangling reference leaves the input unread; only the reference is reported."""
    assert problems_of("""
inputs: {x: {shape: [4]}}
layers:
  - {id: hidden, type: Dense, units: 2}
  - {type: Dense, units: 2, inputs: hiden}
""") == ["5:37: node 'dense_1' reads 'hiden', which is not a node or input"]


def test_the_expanded_size_is_limited(monkeypatch):
    monkeypatch.setattr(expand, "MAX_NODES", 50)
    problems = problems_of("""
blocks:
  inner: {layers: [{type: Dense, units: 3}]}
  outer: {layers: [{block: inner, repeat: 10}]}
inputs: {x: {shape: [3]}}
layers: [{block: outer, repeat: 10}]
""")
    assert problems == ["3:20: the model expands to more than 50 nodes (limit MAX_NODES); check repeat counts"]


# --- connections: keyword inputs, several outputs, models calling models --------------------------------

def test_keyword_inputs_and_call_flags():
    nodes = graph_of((GOOD_SPECS / "attention.yaml").read_text()).models["decoder"].nodes
    attend = nodes["attend"]
    assert attend.inputs == (Ref("embed"),)                  # query: the main input
    assert attend.kwargs == {"value": Ref("embed"), "key": Ref("embed")}
    assert attend.call == {"use_causal_mask": True}


def test_initial_state_reads_the_states_of_another_lstm():
    dec = graph_of((GOOD_SPECS / "seq2seq.yaml").read_text()).models["seq2seq"].nodes["dec"]
    assert dec.inputs == (Ref("target"),)
    assert dec.kwargs == {"initial_state": (Ref("enc", 1), Ref("enc", 2))}
    assert [str(r) for r in dec.sources] == ["target", "enc[1]", "enc[2]"]


def test_models_come_dependencies_first_and_a_model_node_calls_one():
    graph = graph_of((GOOD_SPECS / "gan.yaml").read_text())
    assert list(graph.models) == ["generator", "discriminator", "gan"] and graph.main == "gan"
    score = graph.models["gan"].nodes["score"]
    assert (score.op, score.type, score.inputs) == ("model", "discriminator", (Ref("fake"),))


def test_models_calling_each_other_in_a_cycle():
    problems = problems_of("""
models:
  a: {inputs: {x: {shape: [4]}}, layers: [{model: b}]}
  b: {inputs: {x: {shape: [4]}}, layers: [{model: a}]}
""")
    assert problems == ["3:6: models call each other in a cycle: a -> b -> a"]


# --- the good specs ---------------------------------------------------------------------------------------

GOOD = {
    "chain.yaml": {"mlp": ["x", "dense_1", "dropout_1", "dense_2", "logits"]},
    "dag.yaml": {"two_heads": ["image", "meta", "conv", "pool", "meta_dense", "joined", "class_head",
                               "score_head"]},
    "resnet.yaml": {"tiny_resnet": ["image", "stem"] + [
        f"stage1_{r}.{n}" for r in (1, 2, 3)
        for n in ("conv_a", "batch_normalization_1", "re_lu_1", "conv_b", "shortcut", "sum")]
        + ["global_average_pooling2d_1", "logits"]},
    "nested_blocks.yaml": {"nested": ["image"] + [
        f"{stage}.{n}" for stage in ("low", "high")
        for n in ("first.conv", "first.norm", "first.act", "second.conv", "second.norm", "second.act", "pool")]
        + ["flatten_1", "logits"]},
    "attention.yaml": {"decoder": ["tokens", "embed", "attend", "residual", "norm", "logits"]},
    "seq2seq.yaml": {"seq2seq": ["source", "target", "enc", "dec", "logits"]},
    "gan.yaml": {"generator": ["z", "dense_1", "image"], "discriminator": ["image", "dense_1", "score"],
                 "gan": ["z", "fake", "score"]},
    "decoder_stack.yaml": {"decoder_stack": ["target", "source"] + [
        f"dec_{r}.{n}" for r in (1, 2, 3) for n in ("attend", "sum")]},
}


def test_a_repeated_two_input_block_chains_its_first_input_and_keeps_the_others():
    nodes = graph_of((GOOD_SPECS / "decoder_stack.yaml").read_text()).models["decoder_stack"].nodes
    assert [str(r) for r in nodes["dec_2.attend"].inputs] == ["dec_1.sum"]
    assert {k: str(v) for k, v in nodes["dec_3.attend"].kwargs.items()} == {"value": "source"}


def test_every_good_spec_is_listed_here():
    assert sorted(p.name for p in GOOD_SPECS.glob("*.yaml")) == sorted(GOOD)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_spec_resolves_cleanly_with_the_expected_nodes(name):
    graph = load_graph(GOOD_SPECS / name)
    assert graph.warnings == []
    assert {m: list(g.nodes) for m, g in graph.models.items()} == GOOD[name]


@pytest.fixture(scope="module")
def schema_validator():
    schema = json.loads((ROOT / "schemas" / "spec.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_spec_agrees_with_the_json_schema(name, schema_validator):
    """Editors check specs with the committed schema; a spec builder accepts must pass it too.

    The data comes from builder's own loader: the schema speaks of YAML 1.2 values (`1e-3` is a number).
    """
    errors = [e.message for e in schema_validator.iter_errors(load(GOOD_SPECS / name).data)]
    assert errors == []


def test_the_json_schema_also_refuses_a_bad_spec(schema_validator):
    data = load(ROOT / "tests" / "bad_specs" / "units_quoted.yaml").data
    assert not schema_validator.is_valid(data)


@pytest.mark.parametrize("name", sorted(GOOD))
def test_cli_validate_passes_a_good_spec(name):
    path = GOOD_SPECS / name
    result = CliRunner().invoke(main, ["validate", str(path)])
    nodes = sum(len(ids) for ids in GOOD[name].values())
    models = len(GOOD[name])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok ({nodes} nodes in {models} model{'s' * (models > 1)}; shapes not checked: " \
                            "--shapes)\n"
    assert result.stderr == ""


def test_validate_never_imports_tensorflow_or_keras():
    """`builder validate` reads the layer catalogue from JSON; importing Keras would cost seconds."""
    spec = GOOD_SPECS / "resnet.yaml"
    code = ("import sys; from builder.cli import main\n"
            "try:\n"
            f"    main(['validate', {str(spec)!r}])\n"
            "except SystemExit as exit:\n"
            "    assert exit.code == 0, exit.code\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch'))\n"
            "print('heavy:', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "ok (22 nodes in 1 model; shapes not checked: --shapes)" in result.stdout
    assert result.stdout.strip().endswith("heavy: []")


THREE_MISTAKES = """\
name: three
inputs: {x: {shape: [8]}}
layers:
  - {id: d1, type: Dense, units: "64"}
  - {id: d2, type: Dense, units: 8, inputs: nowhere}
  - {id: d1, type: Dense, units: 4}
"""


def test_a_spec_that_fails_to_parse_still_gets_its_references_and_ids_checked():
    assert problems_of(THREE_MISTAKES) == [
        "4:34: expected a positive integer. Received: units='64'",
        "5:45: node 'd2' reads 'nowhere', which is not a node or input",
        "6:10: duplicate id 'd1' (first at line 4)",
    ]


def test_a_structural_mistake_elsewhere_still_lets_the_graph_be_checked():
    text = THREE_MISTAKES.replace('"64"', "64") + "train: {epochs: '3', optimizer: {type: adamm}}\n"
    assert [problem.split(".")[0] for problem in problems_of(text)] == [
        "5:45: node 'd2' reads 'nowhere', which is not a node or input",
        "6:10: duplicate id 'd1' (first at line 4)",
        "7:17: expected an integer",
        "7:40: expected one of 12 names",
    ]


def test_what_only_echoes_a_parse_problem_is_left_out():
    # the node whose mapping is invalid stays as a stand-in: `d2` still reads it, and what `idd` would have
    # named (`late`), `input:` would have read, and the block with a broken layer are no new problems
    text = """\
name: echoes
inputs: {x: {shape: [8]}, y: {shape: [8]}}
blocks:
  pair: {params: {n: 4}, layers: [{type: 7, units: "${n}"}]}
layers:
  - {id: d1, type: [Dense]}
  - {id: d2, type: Dense, units: 8, inputs: d1}
  - {type: Dense, units: 8, input: y}
  - {type: Dense, idd: late, units: 8}
  - {type: Add, inputs: [late, d2]}
  - {block: pair, with: {n: 3}}
  - {type: Dense, units: 2, inputs: ghost}
"""
    assert problems_of(text) == [
        "4:42: expected text. Received: type=7",
        "6:20: expected text. Received: type=['Dense']",
        "8:29: Dense has no argument 'input'",
        "9:19: Dense has no argument 'idd'",
        "12:37: node 'dense_3' reads 'ghost', which is not a node or input",
    ]
