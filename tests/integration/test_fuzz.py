"""Fuzzing load -> parse -> resolve, in the spirit of OSS-Fuzz's harnesses.

OSS-Fuzz runs atheris over PyYAML and Keras deserialisation and counts only
the documented exception types as expected. Here the documented type is
`builder.errors.SpecError`: whatever text a user (or an attacker) hands us,
the pipeline either returns a graph or raises a `SpecError` whose problems
each point at a real line of that text. Any other exception is a bug.

Three harnesses:
  * random text and random bytes;
  * grammar-shaped YAML: nested mappings, lists, scalars, anchors, aliases and
    tags written out as text, with spec-like keys so that parse and resolve
    see plausible structures;
  * mutated good specs: keys deleted, duplicated or misspelt, values retyped,
    numbers made negative, huge or text, lines dropped or repeated.

Every run is deterministic (`derandomize=True`) and quick (200 examples each).
"""

from __future__ import annotations

import copy
import os
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_helpers import TESTS

from builder.errors import SpecError
from builder.graph import load_graph
from builder.language.loader import load_text

LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")  # what YAML counts as a new line
GOOD = sorted((TESTS / "good_specs").glob("*.yaml"))
# A long exploratory run, off the test suite: BUILDER_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py
EXPLORE = int(os.environ.get("BUILDER_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=EXPLORE or 200, deadline=None, derandomize=not EXPLORE, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])


def run_pipeline(text: str | bytes) -> None:
    """load -> parse -> resolve; only a located SpecError may come out."""
    try:
        load_graph(load_text(text, "fuzz.yaml"))
    except SpecError as error:
        assert error.problems, "a SpecError must say what is wrong"
        lines = len(LINE_BREAK.split(text if isinstance(text, str) else text.decode("utf-8", "replace")))
        for problem in error.problems:
            assert problem.location.file == "fuzz.yaml"
            assert 1 <= problem.location.line <= lines, problem.format()
            assert problem.location.column >= 1, problem.format()
            assert problem.message


# --- (a) random text and bytes ------------------------------------------------------------------

YAMLISH = st.sampled_from(list("{}[]:,-#&*!|>'\"%@`?\n\t ") + ["---", "...", "<<", "!!", "\ufeff", "\x00"])


@FUZZ
@given(st.text(max_size=300))
def test_random_text(text):
    run_pipeline(text)


@FUZZ
@given(st.lists(st.one_of(YAMLISH, st.text(max_size=5)), max_size=80).map("".join))
def test_random_yaml_punctuation(text):
    run_pipeline(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(raw):
    run_pipeline(raw)


# --- (b) grammar-shaped YAML --------------------------------------------------------------------

SPEC_WORDS = ["inputs", "layers", "outputs", "models", "blocks", "params", "train", "type", "units",
              "id", "block", "model", "with", "repeat", "per_repeat", "shape", "call", "output", "data",
              "source", "optimizer", "Dense", "Add", "Conv2D", "LSTM", "MultiHeadAttention", "x", "in",
              '"${x}"', '"${x * 2}"', "$in", "-1", '"enc[1]"', "a.b", "<<"]
KEYS = [w for w in SPEC_WORDS if w not in ("-1", "<<")]
PLAIN_SCALARS = ["0", "1", "-1", "8", "1e-3", ".nan", ".inf", "-.inf", "010", "0x1F", "0o17", "1:30", "NO",
                 "yes", "null", "~", "true", "False", "2024-01-01", "1_000", "+12", "99999999999999999999999",
                 "9" * 60, "é", "a b", "'q'", '"d"', '"${x\\0}"', '"\\t"', '"${x\\u2028}"']
TAGS = ["", "", "", "", "!foo ", "!!str ", "!!int ", "!!python/object/apply:os.system ", "!!map ", "!!seq ",
        "!<tag:yaml.org,2002:str> ", "!!binary ", "!!timestamp "]


PREFIX = st.tuples(st.sampled_from(["", "", "", "&a ", "&b ", "&c "]), st.sampled_from(TAGS)).map("".join)
SCALAR = st.one_of(st.sampled_from(SPEC_WORDS + PLAIN_SCALARS), st.text(alphabet="abc01:-.,#[]{}'\" ", max_size=6))
LEAF = st.one_of(st.tuples(PREFIX, SCALAR).map("".join), st.sampled_from(["*a", "*b", "*c", "*zz"]))


def _flow(children, keys=None, prefix=PREFIX, unique=False):
    """One level of flow-style YAML around already-written child nodes."""
    keys = keys if keys is not None else st.one_of(st.sampled_from(SPEC_WORDS), children)
    seq = st.tuples(prefix, st.lists(children, max_size=4)).map(lambda t: t[0] + "[" + ", ".join(t[1]) + "]")
    pairs = st.lists(st.tuples(keys, children), max_size=4, unique_by=(lambda p: p[0]) if unique else None)
    mapping = st.tuples(prefix, pairs).map(lambda t: t[0] + "{" + ", ".join(map(": ".join, t[1])) + "}")
    return st.one_of(seq, mapping)


# Text of one YAML node in flow style; anchors &a &b &c and aliases *a *b *c (or an unknown *zz) land
# anywhere, so some aliases precede their anchor or sit inside it; keys may be lists or mappings.
yaml_node = st.recursive(LEAF, _flow, max_leaves=25)
# The same without tags, anchors, aliases or complex keys: documents the loader accepts, for parse and resolve.
plain_node = st.recursive(st.sampled_from(SPEC_WORDS + PLAIN_SCALARS),
                          lambda children: _flow(children, st.sampled_from(KEYS), st.just(""), True),
                          max_leaves=25)


@st.composite
def yaml_document(draw):
    """A block-style top level (as users write) over flow-style values, half of them plain."""
    node = plain_node if draw(st.booleans()) else yaml_node
    keys = draw(st.lists(st.sampled_from(SPEC_WORDS[:20] + ["name", "description"]), max_size=6, unique=True))
    lines = [f"{key}: {draw(node)}" for key in keys]
    extra = draw(st.sampled_from([None] * 12 + ["---", "...", "%YAML 1.2", "- x", "  indented: 1", "# comment"]))
    if extra is not None:
        lines.insert(draw(st.integers(0, len(lines))), extra)
    return "\n".join(lines) + "\n"


@FUZZ
@given(yaml_node)
def test_grammar_shaped_flow_yaml(text):
    run_pipeline(text)


@FUZZ
@given(yaml_document())
def test_grammar_shaped_documents(text):
    run_pipeline(text)


# --- (c) mutated good specs ---------------------------------------------------------------------

def _good_data() -> list:
    return [load_text(path.read_bytes(), path.name).data for path in GOOD]


GOOD_DATA = _good_data()
GOOD_TEXT = [path.read_text() for path in GOOD]

REPLACEMENTS = st.one_of(
    st.sampled_from([None, True, False, 0, -1, -(2**40), 2**31, 2**64, 10**30, 1.5, -0.0, 1e308,
                     float("nan"), float("inf"), "", "8", "x", "Dense", "${width}", "${nope}", "${1/0}",
                     "${width\x00}", "${(((1)))}", "${" + "-" * 150 + "1}", "${1e308 * 10}", "a${width}b",
                     "-1", "$in", "enc[9]", "a.b.c", "/etc/passwd", "http://x", "a" * 300,
                     [], [1], [None], ["x", "x"], [-5], {}, {"type": "Dense"}, {"class_name": "X"},
                     {"block": "residual"}, {"model": "gan"}]),
    st.integers(-(2**70), 2**70), st.text(max_size=10))


def _containers(value, found):
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            _containers(item, found)
    elif isinstance(value, list):
        found.append(value)
        for item in value:
            _containers(item, found)
    return found


@st.composite
def mutated_spec(draw):
    data = copy.deepcopy(draw(st.sampled_from(GOOD_DATA)))
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(_containers(data, [])))
        if not target:
            continue
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["delete", "replace", "duplicate", "rename", "negate", "stringify"]))
        if action == "delete":
            del target[key]
        elif action == "replace":
            target[key] = copy.deepcopy(draw(REPLACEMENTS))  # the samples are shared objects
        elif action == "duplicate" and isinstance(target, list):
            target.insert(key, copy.deepcopy(target[key]))
        elif action == "rename" and isinstance(target, dict):
            target[draw(st.sampled_from(["tpye", "unit", "input", "id", "with", "repeat", "name", "x"]))] = \
                target.pop(key)
        elif action == "negate" and isinstance(target[key], (int, float)) and not isinstance(target[key], bool):
            target[key] = -target[key] or -1
        elif action == "stringify":
            target[key] = str(target[key])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


@FUZZ
@given(mutated_spec())
def test_mutated_good_specs(text):
    run_pipeline(text)


@st.composite
def mutated_lines(draw):
    lines = draw(st.sampled_from(GOOD_TEXT)).splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "dedent", "indent", "truncate", "swap"]))
        if action == "drop" and len(lines) > 1:
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        elif action == "dedent":
            lines[i] = lines[i].lstrip()
        elif action == "indent":
            lines[i] = "  " + lines[i]
        elif action == "truncate":
            lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


@FUZZ
@given(mutated_lines())
def test_mutated_good_spec_lines(text):
    run_pipeline(text)


def test_the_good_specs_pass_the_harness_unchanged():
    """The seeds of the mutation harnesses are valid: mutations start from working specs."""
    assert len(GOOD) >= 7
    for path in GOOD:
        assert load_graph(load_text(path.read_bytes(), path.name)).node_count() > 0


# --- (d) numbers: integers of any size in any base, non-finite values through every function ------------

# up to 5,000 digits in each base: past Python's 4,300-digit limit on int <-> str conversions
INTEGER = st.one_of(
    st.integers(-(2**80), 2**80).map(str),
    st.integers(0, 2**80).map(lambda v: f"0x{v:x}"), st.integers(0, 2**80).map(lambda v: f"0o{v:o}"),
    st.integers(1, 5000).map(lambda n: "9" * n), st.integers(1, 5000).map(lambda n: "-" + "9" * n),
    st.integers(1, 5000).map(lambda n: "0x" + "f" * n), st.integers(1, 5000).map(lambda n: "0o" + "7" * n))
NON_FINITE = st.sampled_from([".inf", "-.inf", ".nan", ".NaN", "-.Inf", "1e309", "-1e309"])
FUNCTION_CALL = st.sampled_from(["int(a)", "round(a)", "abs(a)", "min(a, 2)", "max(a, 2)", "int(-a)", "a * a",
                                 "a // 2", "a % 3", "a / 2", "int(a) + 1", "round(a / 0.5)", "a"])
PLACE = st.sampled_from([
    "inputs: {x: {shape: [VALUE]}}\nlayers: [{type: Dense, units: 2}]",
    "inputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: VALUE}]",
    "inputs: {x: {shape: [4]}}\nlayers: [{type: Dropout, rate: VALUE}, {type: Dense, units: 2}]",
    "inputs: {x: {shape: [4]}}\nblocks: {b: {layers: [{type: Dense, units: 2}]}}\nlayers: [{block: b, repeat: VALUE}]",
    "inputs: {x: {shape: [4]}}\nblocks: {b: {params: {u: 2}, layers: [{type: Dense, units: '${u}'}]}}\n"
    "layers: [{block: b, with: {u: VALUE}}]",
    "inputs: {x: {shape: [4]}}\nlayers: [{type: Dense, units: 2}]\ntrain: {epochs: VALUE}",
])


@FUZZ
@given(PLACE, st.one_of(INTEGER, NON_FINITE), st.booleans(), FUNCTION_CALL)
def test_numbers_of_any_size_and_non_finite_values_anywhere(place, number, through_a_parameter, expression):
    """`0x`/`0o`/decimal integers of any size and .inf/.nan, written in place or through a parameter and a
    function, give a located error (or a valid spec), never an OverflowError or a digit-limit ValueError."""
    if through_a_parameter:
        text = f"name: numbers\nparams: {{a: {number}}}\n" + place.replace("VALUE", f"'${{{expression}}}'")
    else:
        text = "name: numbers\n" + place.replace("VALUE", number)
    run_pipeline(text)
