"""The command line on its own: how errors reach the user, whatever the command.

builder's errors end in one place, the command group: a `SpecError` prints `file:line:col: error:`
lines and a count, exit code 1; a `CommandError` (backend, Graphviz, export converter) prints one
`Error:` line, exit code 1; a malformed option is click's usage error, exit code 2. Never a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
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
    assert result.stdout == "specs/lenet.yaml: ok (10 nodes in 1 model; shapes not checked: --shapes)\n"


def test_the_readme_command_table_lists_every_command():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| command | what it does |"):].split("\n\n")[0]
    listed = {line.split("`builder ")[1].split()[0].rstrip("`") for line in table.splitlines() if "`builder " in line}
    assert listed == set(main.commands), sorted(set(main.commands) ^ listed)


# --- conventions a CLI user expects: -q/-v, completion, layer help -------------------------------------

WARNS = """
name: warns
inputs: {x: {shape: [4]}}
layers:
  - {id: spare, type: Dense, units: 2, inputs: x}
  - {id: hidden, type: Dense, units: 3, inputs: x}
outputs: [hidden]
"""


def test_quiet_validate_prints_the_errors_alone(tmp_path):
    spec = write_spec(tmp_path, WARNS)
    loud = invoke("validate", spec)
    assert "warning: node 'spare' does not lead to any output" in loud.stderr
    assert loud.stdout == f"{spec}: ok (3 nodes in 1 model; shapes not checked: --shapes)\n"
    quiet = invoke("validate", "-q", spec)
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")   # the exit code says ok
    broken = invoke("validate", "--quiet", write_spec(tmp_path, BROKEN, "broken.yaml"))
    assert broken.exit_code == 1 and broken.stdout == ""
    assert "error: Dense has no argument 'unit'" in broken.stderr and broken.stderr.rstrip().endswith("1 error")
    both = invoke("validate", "-q", "-v", spec)
    assert both.exit_code == 2 and "give --quiet or --verbose, not both" in both.stderr


def test_quiet_build_prints_the_files_written_and_a_dotted_set_changes_the_model(tmp_path):
    pytest.importorskip("keras")
    spec = write_spec(tmp_path, WARNS)
    result = invoke("build", spec, "--no-save", "--set", "layers.hidden.units=5")
    assert result.exit_code == 0, result.output
    assert [line.split()[-1] for line in result.stdout.splitlines() if line.split()[0] == "hidden"] == ["25"]   # 4*5+5
    quiet = invoke("build", spec, "-q", "-o", tmp_path / "out")
    assert quiet.exit_code == 0, quiet.output
    lines = quiet.stdout.splitlines()   # the model, then the diagram
    assert lines[0] == f"wrote {tmp_path / 'out' / 'warns.keras'}"
    assert len(lines) == 2 and lines[1].startswith(f"wrote {tmp_path / 'out'}") and lines[1].endswith(".svg")
    assert quiet.stderr == ""                          # nor the warning about 'spare'
    bad = invoke("build", spec, "--no-save", "--set", "layers.hidden.units=0")
    assert bad.exit_code == 1
    assert f"{spec}:5:38: error: expected a positive integer. Received: units=0\n" \
           "  hint: the value comes from --set layers.hidden.units=0" in bad.stderr


def test_backend_completes_to_the_backend_names():
    from click.shell_completion import ShellComplete

    complete = ShellComplete(main, {}, "builder", "_BUILDER_COMPLETE")
    assert [item.value for item in complete.get_completions(["build", "spec.yaml", "--backend"], "")] == \
        ["tensorflow", "jax", "torch"]
    assert [item.value for item in complete.get_completions(["train", "--backend"], "j")] == ["jax"]


def test_layers_describes_a_layer_type_and_still_lists_a_family():
    result = invoke("layers", "Conv2D")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:2] == ["Conv2D: 2D convolution layer.", "  family: convolution; also named Convolution2D"]
    assert lines[3].split() == ["filters", "required", "a", "positive", "integer"]   # required ones first
    padding = next(line for line in lines if line.split()[0] == "padding")
    assert padding.split(None, 1)[1].split() == ['default', '"valid"', "one", "of", "'valid',", "'same',", "'causal'"]
    assert invoke("layers", "conv2d").stdout == result.stdout     # a layer's name in any case
    family = invoke("layers", "convolution")
    assert family.stdout.startswith("convolution: Conv1D, Conv1DTranspose, Conv2D,")
    assert len(family.stdout.splitlines()) == 1
    near = invoke("layers", "convolutional")
    assert near.stdout == family.stdout and near.stderr == "note: 'convolutional' taken as the family 'convolution'\n"


def test_layers_suggests_the_closest_layer_or_family():
    result = invoke("layers", "Conv2E")
    assert result.exit_code == 2 and "no layer type or family 'Conv2E'; did you mean 'Conv2D'?" in result.stderr
    assert "Lambda is not available in a spec" in invoke("layers", "Lambda").stderr
    assert "families: activation, attention," in invoke("layers", "Xyzzy").stderr


def test_validate_reports_every_independent_problem_of_a_file_in_one_run(tmp_path):
    # the quoted number fails parse; the dangling reference and the duplicate id come out with it
    spec = write_spec(tmp_path, """
        name: three
        inputs: {x: {shape: [8]}}
        layers:
          - {id: d1, type: Dense, units: "64"}
          - {id: d2, type: Dense, units: 8, inputs: nowhere}
          - {id: d1, type: Dense, units: 4}
    """)
    result = invoke("validate", spec)
    assert result.exit_code == 1
    assert [line.split(": error: ")[0] for line in result.stderr.splitlines() if ": error: " in line] == \
        [f"{spec}:4:34", f"{spec}:5:45", f"{spec}:6:10"]
    assert "units='64'" in result.stderr and "reads 'nowhere'" in result.stderr and "duplicate id 'd1'" in result.stderr
    assert result.stderr.splitlines()[-1] == "3 errors"


RANK_MISMATCH = """
    name: rank
    inputs: {x: {shape: [64]}}
    layers:
      - {id: dense1, type: Dense, units: 128}
      - {id: conv3, type: Conv2D, filters: 8, kernel_size: 3}
"""


def test_validate_says_shapes_were_not_checked_and_shapes_finds_the_rank_mismatch(tmp_path):
    spec = write_spec(tmp_path, RANK_MISMATCH)
    plain = invoke("validate", spec)
    assert (plain.exit_code, plain.stdout) == (0, f"{spec}: ok (3 nodes in 1 model; shapes not checked: --shapes)\n")
    shaped = invoke("validate", "--shapes", spec)
    assert shaped.exit_code == 1
    assert shaped.stderr.startswith(f"{spec}:5:5: error: node 'conv3' (Conv2D) expects a 4-D input, got (None, 128) "
                                    "from 'dense1'")
    assert shaped.stderr.splitlines()[-1] == "1 error"
    as_json = invoke("validate", "--shapes", "--format", "json", spec)
    [entry] = json.loads(as_json.stdout)
    assert (entry["ok"], entry["shapes_checked"]) == (False, True)
    assert [(p["line"], p["node"]) for p in entry["problems"]] == [(5, "conv3")]
    fixed = invoke("validate", "--shapes", write_spec(tmp_path, RANK_MISMATCH.replace("Conv2D, filters: 8, kernel_size: 3",
                                                                                       "Dense, units: 8"), "fixed.yaml"))
    assert fixed.exit_code == 0 and fixed.stdout.endswith("ok (3 nodes in 1 model; shapes checked)\n")


def test_a_reader_that_leaves_early_ends_the_command_quietly():
    """`builder layers LSTM | head -1`: a closed pipe is no bug in builder: exit 141 (SIGPIPE's), nothing on stderr."""
    command = [sys.executable, "-m", "builder", "layers", "LSTM"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()   # the reader is gone before the first line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141
    assert stderr == ""


def test_build_draws_beside_the_diagram_render_wrote_not_over_it(tmp_path):
    """`make demo` renders out/demo/lenet.svg, then builds into out/demo: both diagrams stay."""
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("needs Graphviz's dot")
    from spec_helpers import iris_mlp

    spec = write_spec(tmp_path, iris_mlp())
    drawn = tmp_path / "out" / "iris-mlp.svg"
    drawn.parent.mkdir()
    assert CliRunner().invoke(main, ["render", str(spec), "-o", str(drawn), "--no-shapes"]).exit_code == 0
    before = drawn.read_bytes()
    result = CliRunner().invoke(main, ["build", str(spec), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert drawn.read_bytes() == before
    assert (tmp_path / "out" / "iris-mlp.build.svg").read_text().lstrip().startswith(("<?xml", "<svg"))


SIAMESE = """
name: siam
models:
  tower:
    inputs: {image: {shape: [8, 8, 1]}}
    layers: [{type: Flatten}, {type: Dense, units: 32, activation: relu}]
  siamese:
    inputs: {left: {shape: [8, 8, 1]}, right: {shape: [8, 8, 1]}}
    layers:
      - {id: a, model: tower, inputs: left}
      - {id: b, model: tower, inputs: right}
      - {id: distance, type: Subtract, inputs: [a, b]}
"""


def test_build_shows_a_called_model_s_parameters_as_shared_and_counts_them_once(tmp_path):
    result = CliRunner().invoke(main, ["build", str(write_spec(tmp_path, SIAMESE)), "--no-save"])
    assert result.exit_code == 0, result.output
    siamese = result.output[result.output.index("model siamese"):]
    assert [line.split()[-2:] for line in siamese.splitlines() if line.split()[:1] in (["a"], ["b"])] == \
        [["2,080", "shared"], ["2,080", "shared"]]
    assert "total 2,080 parameters" in siamese   # one tower's weights, not two


def test_layers_describes_builder_s_own_layers_with_their_defaults():
    result = CliRunner().invoke(main, ["layers", "TransformerEncoderBlock"])
    assert result.exit_code == 0, result.output
    assert "family: builder" in result.output
    assert "key_dim" in result.output and "epsilon                      default 1e-05" in result.output


# --- cost before build (builder.graph.cost) --------------------------------------------------------------

def test_validate_cost_prints_each_nodes_macs_and_the_totals_without_keras(tmp_path):
    code = ("import sys; from builder.cli import main\n"
            "try:\n    main(['validate', '--cost', 'specs/lenet.yaml'])\n"
            "except SystemExit as exit:\n    assert exit.code == 0, exit.code\n"
            "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules, 'keras imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split()[2:] for line in result.stdout.splitlines()[2:] if line.startswith("  ")}
    assert rows["c1"] == ["156", "118", "k", "18.4", "KiB"]   # params, MACs 28*28*6*25, 28x28x6 float32 values
    assert "  417 k MACs (833 k FLOPs) per sample; activations 37.2 KiB per sample (float32)" in result.stdout
    assert "adam state 482 KiB (2 slots per trainable weight)" in result.stdout
    as_json = json.loads(invoke("validate", "--cost", "--format", "json", ROOT / "specs" / "lenet.yaml").stdout)
    assert as_json[0]["cost"]["models"]["lenet"]["macs"] == 416520
    small = ["--set", "vocab=100", "--set", "context=16", "--set", "embed_dim=16", "--set", "layers=1"]
    gpt = invoke("validate", "--cost", "--format", "json", ROOT / "specs" / "gpt.yaml", *small)
    assert json.loads(gpt.stdout)[0]["cost"]["models"]["gpt"]["macs_at_least"]   # the length is open
    gpt = invoke("validate", "--cost", "--format", "json", "--null-size", "16", ROOT / "specs" / "gpt.yaml", *small)
    assert not json.loads(gpt.stdout)[0]["cost"]["models"]["gpt"]["macs_at_least"]


def test_validate_cost_takes_shapes_from_keras_without_weights_where_its_own_pass_stops(tmp_path):
    pytest.importorskip("keras")
    spec = write_spec(tmp_path, """
        inputs: {x: {shape: [4, 8]}}
        layers:
          - {id: mixed, type: EinsumDense, equation: "abc,cd->abd", output_shape: [4, 3], bias_axes: d}
          - {id: after, type: Dense, units: 2}
    """)   # no Keras-free rule for EinsumDense: without Keras, neither node would have a shape
    result = invoke("validate", "--cost", "--format", "json", spec)
    assert result.exit_code == 0, result.output
    model = json.loads(result.stdout)[0]["cost"]["models"]["spec"]
    assert model["not_counted"] == {} and model["parameters"] == 35
    assert model["nodes"]["mixed"]["macs"] == 4 * 8 * 3 and model["nodes"]["after"]["activation_bytes"] == 4 * 2 * 4
    wrong = write_spec(tmp_path, """
        inputs: {x: {shape: [4, 8]}}
        layers:
          - {id: mixed, type: EinsumDense, equation: "abc,cd->abd", output_shape: [4, 3]}
          - {id: both, type: Concatenate, inputs: [mixed, x], axis: 1}
    """, "wrong.yaml")
    result = invoke("validate", "--cost", wrong)
    assert result.exit_code == 1
    assert "wrong.yaml:4:5: error: node 'both' (Concatenate) cannot take input" in result.stderr


def test_build_and_render_show_macs(tmp_path):
    pytest.importorskip("keras")
    built = invoke("build", ROOT / "specs" / "lenet.yaml", "--no-save")
    assert built.exit_code == 0, built.output
    assert [line.split()[-5:] for line in built.stdout.splitlines() if line.split()[:1] == ["c3"]] == \
        [["240", "k", "6.25", "KiB", "2,416"]]   # MACs, activations, params
    assert "417 k MACs (833 k FLOPs) per sample" in built.stdout
    drawn = invoke("render", ROOT / "specs" / "lenet.yaml", "-o", tmp_path / "lenet.dot", "--no-shapes", "--show", "macs")
    assert drawn.exit_code == 0, drawn.output
    assert "118 k MACs" in (tmp_path / "lenet.dot").read_text()
