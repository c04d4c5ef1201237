"""The command line on its own: how errors reach the user, whatever the command.

builder's errors end in one place, the command group: a `SpecError` prints `file:line:col: error:`
lines and a count, exit code 1; a `CommandError` (backend, Graphviz, export converter) prints one
`Error:` line, exit code 1; a malformed option is click's usage error, exit code 2. Never a traceback.
"""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner
from spec_helpers import ROOT, write_spec

from builder.cli import main

BROKEN = """
name: broken
inputs: {x: {shape: [4]}}
layers:
  - {type: Dense, unit: 3}
"""


def invoke(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_every_command_says_what_it_does_in_help():
    result = invoke("--help")
    assert result.exit_code == 0
    for name, command in main.commands.items():
        assert command.help and command.help.strip(), f"`builder {name}` has no help"
        assert f"  {name} " in result.output


def test_a_spec_error_is_located_lines_and_exit_code_1_from_every_spec_command(tmp_path):
    spec = write_spec(tmp_path, BROKEN)
    for command in (["validate"], ["build", "--no-save"], ["render", "-o", tmp_path / "x.dot"], ["train"],
                    ["augment", "-o", tmp_path / "grid.png"]):
        result = invoke(*command, spec)
        assert result.exit_code == 1, (command, result.output)
        assert f"{spec}:4:19: error: Dense has no argument 'unit'" in result.stderr and "did you mean 'units'?" in result.stderr, command
        assert result.stderr.rstrip().endswith("1 error"), command
        assert "Traceback" not in result.output


def test_a_command_error_is_one_error_line(tmp_path):
    spec = write_spec(tmp_path, BROKEN.replace("unit:", "units:"))
    result = invoke("render", spec, "-o", tmp_path / "diagram.bmpx")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1


def test_a_malformed_option_is_a_usage_error(tmp_path):
    spec = write_spec(tmp_path, BROKEN.replace("unit:", "units:"))
    result = invoke("validate", spec, "--set", "no-equals-sign")
    assert result.exit_code == 2
    assert "expected NAME=VALUE. Received: 'no-equals-sign'" in result.stderr


def test_python_dash_m_builder_is_the_same_command_line():
    result = subprocess.run([sys.executable, "-m", "builder", "validate", "specs/lenet.yaml"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "specs/lenet.yaml: ok (10 nodes in 1 model)\n"


def test_the_readme_command_table_lists_every_command():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| command | what it does |"):].split("\n\n")[0]
    listed = {line.split("`builder ")[1].split()[0].rstrip("`") for line in table.splitlines() if "`builder " in line}
    assert listed == set(main.commands), sorted(set(main.commands) ^ listed)
