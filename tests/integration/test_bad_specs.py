"""The corpus of mistakes: every file in tests/bad_specs/ is one mistake users make.

Each case is data. A file begins with comment lines saying what it shows and
what builder must answer::

    # A misspelt layer type gets the nearest layer name.
    # expect: 7:12: unknown layer type 'Dens'
    # hint: did you mean 'Dense'?
    # set: width=64            (optional: a --set override, given to resolve and the CLI)

`# expect: LINE:COL: TEXT` is one expected problem: its line and column, and
text its message contains; `# hint: TEXT` belongs to the `expect` above it.
The pipeline must raise a `SpecError` with exactly these problems (no more,
no fewer), and `builder validate FILE` must exit 1 printing each one as
`FILE:LINE:COL: error: MESSAGE`. To add a case, add a file; no code changes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from spec_helpers import TESTS

from builder.cli import main, parse_overrides
from builder.errors import SpecError
from builder.graph import load_graph

BAD_SPECS = TESTS / "bad_specs"
FILES = sorted(BAD_SPECS.glob("*.yaml"))


@dataclass
class Expected:
    line: int
    column: int
    message: str
    hint: str | None = None


def expectations(path: Path) -> tuple[list[Expected], tuple[str, ...]]:
    """The `# expect:` / `# hint:` / `# set:` header of a bad spec (read as bytes: one is not UTF-8)."""
    expected: list[Expected] = []
    overrides: list[str] = []
    for raw in path.read_bytes().splitlines():
        line = raw.decode("utf-8", "replace")
        if not line.startswith("#"):
            break
        if match := re.fullmatch(r"# expect: (\d+):(\d+): (.+)", line):
            expected.append(Expected(int(match[1]), int(match[2]), match[3]))
        elif match := re.fullmatch(r"# hint: (.+)", line):
            expected[-1].hint = match[1]
        elif match := re.fullmatch(r"# set: (.+)", line):
            overrides.append(match[1])
    return expected, tuple(overrides)


def test_the_corpus_is_large_and_every_case_says_what_it_expects():
    assert len(FILES) >= 45
    for path in FILES:
        first = path.read_bytes().split(b"\n", 1)[0]
        assert first.startswith(b"# ") and b"expect:" not in first, f"{path.name}: first line describes the case"
        assert expectations(path)[0], f"{path.name} has no '# expect: LINE:COL: MESSAGE' line"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_pipeline_reports_exactly_the_expected_problems(path):
    expected, overrides = expectations(path)
    with pytest.raises(SpecError) as caught:
        load_graph(path, parse_overrides(overrides))
    report = caught.value.format()
    unmatched = list(caught.value.problems)
    for want in expected:
        found = next((p for p in unmatched if (p.location.line, p.location.column) == (want.line, want.column)
                      and want.message in p.message), None)
        assert found is not None, f"expected {want.line}:{want.column}: {want.message!r}; got:\n{report}"
        if want.hint:
            assert found.hint and want.hint in found.hint, f"expected hint {want.hint!r}; got:\n{report}"
        assert found.location.file == str(path) and found.severity == "error"
        unmatched.remove(found)
    assert not unmatched, f"problems the case does not expect:\n{report}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_cli_validate_exits_1_and_prints_located_errors(path):
    expected, overrides = expectations(path)
    args = ["validate", str(path), *(arg for pair in overrides for arg in ("--set", pair))]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    for want in expected:
        prefix = f"{path}:{want.line}:{want.column}: error: " if want.line else f"{path}: error: "
        assert any(line.startswith(prefix) and want.message in line for line in lines), result.stderr
    assert lines[-1] == f"{len(expected)} error{'s' * (len(expected) != 1)}"


def test_cli_json_lists_every_problem_of_every_file():
    """`--format json` is for editors: one entry per file, problems with line and column."""
    paths = [BAD_SPECS / "argument_misspelt.yaml", BAD_SPECS / "undeclared_block_placeholder.yaml"]
    result = CliRunner().invoke(main, ["validate", "--format", "json", *map(str, paths)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [entry["file"] for entry in report] == list(map(str, paths))
    for entry, path in zip(report, paths):
        assert entry["ok"] is False
        got = [(p["line"], p["column"], p["severity"]) for p in entry["problems"]]
        assert got == [(e.line, e.column, "error") for e in expectations(path)[0]]


def test_cli_keeps_going_after_a_bad_file():
    """Several files: every one is checked, the good one says ok, the exit code is 1."""
    good = TESTS / "good_specs" / "chain.yaml"
    bad = BAD_SPECS / "cycle.yaml"
    result = CliRunner().invoke(main, ["validate", str(bad), str(good)])
    assert result.exit_code == 1
    assert f"{good}: ok (5 nodes in 1 model; shapes not checked: --shapes)" in result.stdout
    assert f"{bad}:7:5: error: the graph has a cycle" in result.stderr
