"""The Python API (docs/python-api.md): each documented example, run as written."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from spec_helpers import ROOT

import builder
from builder import SpecError

LENET = str(ROOT / "specs" / "lenet.yaml")


def test_load_resolves_with_overrides_and_stays_light():
    code = ("import sys, builder; g = builder.load(sys.argv[1], c1=8); "
            "print(g.name, list(g.models), g.overrides, 'keras' in sys.modules, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, LENET], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["lenet", "['lenet']", "{'c1':", "8}", "False", "False"]


def test_a_bad_spec_raises_spec_error_with_located_problems(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\ninputs:\n  x: {shape: [4]}\nlayers:\n  - {type: Dense, unit: 3}\noutputs: [x]\n")
    with pytest.raises(SpecError) as caught:
        builder.load(broken)
    problem = caught.value.problems[0]
    assert (problem.location.file, problem.location.line) == (str(broken), 5)
    assert "unit" in problem.message and problem.format().startswith(f"{broken}:5:")


def test_load_takes_dotted_paths_as_a_dict_like_dotted_set():
    graph = builder.load(LENET, **{"layers.c5.units": 64, "train.optimizer.learning_rate": 1e-4}, c1=8)
    assert graph.models["lenet"].nodes["c5"].args["units"] == 64
    assert graph.spec.train.optimizer.learning_rate == 1e-4 and graph.params["c1"] == 8
    with pytest.raises(SpecError, match="did you mean 'train.epochs'"):
        builder.load(LENET, **{"train.epoch": 3})


def test_overrides_go_with_a_path_not_with_a_loaded_graph():
    with pytest.raises(TypeError, match="Received: \\['c1'\\]"):
        builder.build(builder.load(LENET), c1=8)


def test_build_gives_keras_models_with_shapes_and_params():
    keras = pytest.importorskip("keras")
    models = builder.build(builder.load(LENET, c1=8))
    assert isinstance(models["lenet"], keras.Model)
    assert models.shapes["lenet"]["c1"] == (None, 28, 28, 8)
    assert models["lenet"].count_params() == 62_558 == sum(models.params["lenet"].values())


def test_render_returns_dot_and_writes_the_file(tmp_path):
    text = builder.render(builder.load(LENET), tmp_path / "lenet.dot")
    assert text.startswith("digraph") and (tmp_path / "lenet.dot").read_text() == text
    assert "c1" in text and "Conv2D" in text


def test_train_writes_a_run_that_records_the_overrides(tmp_path):
    pytest.importorskip("keras")
    run = builder.train(builder.load(LENET, c1=8), epochs=1, out=tmp_path / "lenet-try")
    summary = json.loads(run.summary.read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 1
    assert len(run.history.read_text().strip().splitlines()) == 2   # header + one epoch
    assert json.loads((run.path / "run.json").read_text())["overrides"] == {"c1": 8}


def test_python_dash_m_builder_is_the_cli():
    out = subprocess.run([sys.executable, "-m", "builder", "validate", LENET], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "lenet" in out.stdout
    assert subprocess.run([sys.executable, "-m", "builder", "--help"], capture_output=True, text=True,
                          check=True).stdout.startswith("Usage: builder ")
