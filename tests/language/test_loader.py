"""Stage 1, load: YAML text -> plain data with a location for every value.

These tests read as the loader's contract: YAML 1.2 scalars (not PyYAML's
YAML 1.1), where each value came from, merge keys, and the resource limits,
each of which names itself in its error.
"""

from __future__ import annotations

import math
import time

import pytest

from builder.errors import Location, SpecError
from builder.language.loader import Limits, load, load_text, resolve_plain_scalar


def value_of(text: str):
    """The value of `v:` in a one-line spec."""
    return load_text(f"v: {text}\n").data["v"]


def error_of(text: str | bytes, limits: Limits = Limits()) -> SpecError:
    with pytest.raises(SpecError) as caught:
        load_text(text, "spec.yaml", limits)
    assert len(caught.value.problems) == 1
    return caught.value


# --- YAML 1.2 scalars -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [
    ("NO", "NO"), ("no", "no"), ("yes", "yes"), ("on", "on"), ("Off", "Off"), ("y", "y"),  # 1.1 booleans
    ("true", True), ("False", False), ("TRUE", True),
    ("null", None), ("~", None), ("", None), ("NULL", None),
    ("010", 10), ("0o10", 8), ("0x1F", 31), ("+12", 12), ("-0", 0),                    # 1.1: 010 is 8
    ("1:30", "1:30"), ("1:30:00", "1:30:00"),                                           # 1.1: 90, 5400
    ("1e-3", 0.001), ("1E3", 1000.0), ("2.5e+2", 250.0), (".5", 0.5), ("1.", 1.0),      # PyYAML: '1e-3'
    ("2024-01-31", "2024-01-31"), ("2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"),
    ("1_000", "1_000"), ("0b101", "0b101"), ("0x", "0x"),                              # 1.1-only forms
    ("'8'", "8"), ('"true"', "true"), ("'null'", "null"),                               # quoted: text
    ("Conv2D", "Conv2D"), ("$in", "$in"), ("${width * 2}", "${width * 2}"),
])
def test_scalars_follow_yaml_1_2(text, value):
    loaded = value_of(text)
    assert loaded == value and type(loaded) is type(value)


def test_special_floats():
    assert value_of(".inf") == math.inf and value_of("-.inf") == -math.inf and value_of("+.INF") == math.inf
    assert math.isnan(value_of(".nan")) and math.isnan(value_of(".NaN"))


def test_a_huge_integer_is_not_parsed_digit_by_digit():
    """int('9' * 10**6) takes seconds; past 40 digits the value is a float (and out of every range)."""
    assert value_of("9" * 41) == float("9" * 41)
    assert value_of("9" * 40) == int("9" * 40)


def test_command_line_values_use_the_same_rules():
    assert resolve_plain_scalar("64") == 64 and resolve_plain_scalar("1e-3") == 0.001
    assert resolve_plain_scalar("yes") == "yes"


# --- where every value came from --------------------------------------------------------------------

SPEC = """\
name: mlp
inputs:
  x: {shape: [64]}
layers:
  - type: Dense
    units: 32
  - {id: logits, type: Dense, units: 10}
"""


def test_line_and_column_of_nested_values_and_keys():
    doc = load_text(SPEC, "mlp.yaml")
    assert doc.data["layers"][1] == {"id": "logits", "type": "Dense", "units": 10}
    assert doc.locate(("name",)) == Location("mlp.yaml", 1, 7)
    assert doc.locate(("inputs", "x", "shape")) == Location("mlp.yaml", 3, 14)
    assert doc.locate(("inputs", "x", "shape", 0)) == Location("mlp.yaml", 3, 15)
    assert doc.locate(("layers", 0)) == Location("mlp.yaml", 5, 5)
    assert doc.locate(("layers", 0, "units")) == Location("mlp.yaml", 6, 12)
    assert doc.locate(("layers", 0, "units"), key=True) == Location("mlp.yaml", 6, 5)
    assert doc.locate(("layers", 1, "units")) == Location("mlp.yaml", 7, 38)


def test_a_missing_path_is_located_at_its_nearest_ancestor():
    doc = load_text(SPEC, "mlp.yaml")
    assert doc.locate(("layers", 1, "activation")) == doc.locate(("layers", 1)) == Location("mlp.yaml", 7, 5)
    assert doc.locate(("train", "epochs")) == Location("mlp.yaml", 1, 1)


def test_anchors_and_aliases_share_a_value():
    doc = load_text("a: &dense {type: Dense, units: 8}\nb: [*dense, *dense]\n")
    assert doc.data["b"] == [{"type": "Dense", "units": 8}] * 2


# --- merge keys ---------------------------------------------------------------------------------------

def test_merge_keys_fill_in_what_the_mapping_does_not_say():
    doc = load_text("""\
base: &conv {type: Conv2D, kernel_size: 3, padding: same}
one: {<<: *conv, filters: 8, padding: valid}
two:
  <<: [*conv, {activation: relu}]
  filters: 16
""")
    assert doc.data["one"] == {"filters": 8, "padding": "valid", "type": "Conv2D", "kernel_size": 3}
    assert doc.data["two"] == {"filters": 16, "type": "Conv2D", "kernel_size": 3, "padding": "same",
                               "activation": "relu"}
    assert doc.locate(("one", "padding")) == Location("<spec>", 2, 39)      # written here
    assert doc.locate(("one", "kernel_size")) == Location("<spec>", 2, 11)  # merged: at the `<<` value


def test_a_quoted_merge_key_is_an_ordinary_key():
    assert load_text("m: {'<<': 1}\n").data["m"] == {"<<": 1}


def test_a_merge_key_takes_mappings():
    error = error_of("m: {<<: [1, 2]}\n")
    assert error.problems[0].message.startswith("a merge key `<<` takes a mapping or a list of mappings")


# --- refused input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, where, message", [
    ("v: !!python/object/apply:os.system [id]\n", (1, 4), "YAML tags are not allowed"),
    ("v: !!str 3\n", (1, 4), "YAML tags are not allowed"),       # even harmless standard tags
    ("v: !foo\n", (1, 4), "YAML tags are not allowed"),
    ("a: 1\na: 2\n", (2, 1), "duplicate key 'a' (first at line 1)"),
    ("1: a\n", (1, 1), "mapping keys must be text. Received: 1"),
    ("~: a\n", (1, 1), "mapping keys must be text. Received: None"),
    ("? [a]\n: b\n", (1, 3), "mapping keys must be plain text"),
    ("a: &x [1]\n*x : 2\n", (2, 1), "mapping keys must be plain text; an alias to a list or mapping"),
    ("a: &a [*a]\n", (1, 8), "alias *a refers to the anchor it sits in"),
    ("a: *nope\n", (1, 4), "unknown alias *nope"),
    ("a: 1\n---\nb: 2\n", (2, 1), "a spec file holds one YAML document"),
    ("- a\n", (1, 1), "this file holds a list"),
    ("just text\n", (1, 1), "this file holds a text"),
    ("", (1, 1), "the spec is empty"),
    ("# only a comment\n\n", (1, 1), "the spec is empty"),
    ("a: [1\n", (2, 1), "invalid YAML"),
    ("a: b: c\n", (1, 5), "invalid YAML"),
    (b"a: caf\xe9\n", (1, 7), "the spec is not valid UTF-8 (byte 0xe9 at offset 6)"),
    ("é: 1\nb: caf\udce9\n".encode("utf-8", "surrogateescape"), (2, 7), "not valid UTF-8"),
])
def test_refused_input_is_located(text, where, message):
    problem = error_of(text).problems[0]
    assert (problem.location.line, problem.location.column) == where
    assert message in problem.message


def test_a_byte_order_mark_is_fine():
    assert load_text(b"\xef\xbb\xbfa: 1\n").data == {"a": 1}


def test_an_unexpected_end_is_located_on_the_last_line():
    """libyaml puts "end of stream" past the last line; the error stays inside the file."""
    problem = error_of("a: [1, 2").problems[0]
    assert (problem.location.line, problem.location.column) == (1, 9)


# --- limits, each named in its error ------------------------------------------------------------------

def test_limit_max_bytes():
    error = error_of("a: " + "x" * 200 + "\n", Limits(max_bytes=100))
    assert "the spec is 204 bytes, over the limit of 100 (limit max_bytes)" in error.problems[0].message


def test_limit_max_bytes_is_checked_while_reading_a_file(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("a: 1\n" * 100)
    with pytest.raises(SpecError, match=r"over the limit of 100 \(limit max_bytes\)"):
        load(path, Limits(max_bytes=100))


def test_limit_max_depth():
    problem = error_of("a: " + "[" * 10 + "]" * 10 + "\n", Limits(max_depth=5)).problems[0]
    assert "nests deeper than 5 levels (limit max_depth)" in problem.message
    assert (problem.location.line, problem.location.column) == (1, 8)  # the sixth `[` (the root is one)


def test_limit_max_depth_holds_for_nesting_that_would_crash_a_recursive_loader():
    """PyYAML's pure-Python composer hits RecursionError near depth 1,000; we stop at 64 while streaming."""
    start = time.perf_counter()
    error = error_of("[" * 100_000)
    assert "(limit max_depth)" in error.problems[0].message
    assert time.perf_counter() - start < 2


def test_limit_max_nodes_counts_aliases_as_expanded():
    text = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\nb: [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    assert load_text(text, limits=Limits(max_nodes=200)).data["b"][9] == list(range(1, 11))
    error = error_of(text, Limits(max_nodes=100))
    assert "expands to more than 100 YAML nodes (limit max_nodes)" in error.problems[0].message


def test_billion_laughs_is_refused_quickly():
    lines, previous = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'], "a"
    for name in "bcdefghi":
        lines.append(f"{name}: &{name} [" + ", ".join(["*" + previous] * 9) + "]")
        previous = name
    start = time.perf_counter()
    error = error_of("\n".join(lines) + "\n")
    assert "(limit max_nodes)" in error.problems[0].message
    assert time.perf_counter() - start < 2


def test_limit_max_scalar_chars():
    error = error_of("a: " + "x" * 101 + "\n", Limits(max_scalar_chars=100))
    assert "a scalar of 101 characters is over the limit of 100 (limit max_scalar_chars)" in \
        error.problems[0].message


def test_default_limits_accept_a_big_honest_spec():
    layers = "".join(f"  - {{id: d{i}, type: Dense, units: {i + 1}}}\n" for i in range(5000))
    doc = load_text("layers:\n" + layers)
    assert len(doc.data["layers"]) == 5000 and doc.locate(("layers", 4999, "units")).line == 5001


# --- files ----------------------------------------------------------------------------------------------

def test_missing_file_and_folder_are_spec_errors(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(SpecError, match="this is a folder"):
        load(tmp_path)


def test_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("a: 1\na: 2\n")
    with pytest.raises(SpecError) as caught:
        load(path)
    assert caught.value.problems[0].location == Location(str(path), 2, 1)
    assert str(caught.value).startswith(f"{path}:2:1: error: duplicate key 'a'")
