"""A run folder and a search written by builder 0.1.0 at commit fd2e3fd, before its modules moved into
packages (tests/fixtures/*-fd2e3fd), still open with today's code.

Keras finds builder's layers by their registered names (`builder>PositionEmbedding`), not by the module
path the file also records (`builder.layers.position_embedding`, gone since); Optuna's study holds
parameter paths and trial attributes only.
"""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from spec_helpers import TESTS

from builder.cli import main

pytest.importorskip("keras")

RUN = TESTS / "fixtures" / "run-fd2e3fd"
SEARCH = TESTS / "fixtures" / "search-fd2e3fd"


def test_the_model_file_names_the_old_module_and_reopens_with_safe_mode():
    import zipfile

    import keras

    import builder  # noqa: F401  (registers builder's layers)
    from builder.model.layers import PositionEmbedding

    config = zipfile.ZipFile(RUN / "model.keras").read("config.json").decode()
    assert '"module": "builder.layers.position_embedding"' in config      # a path that no longer exists
    model = keras.models.load_model(RUN / "model.keras")                  # safe_mode is on by default
    assert any(isinstance(layer, PositionEmbedding) for layer in model.layers)
    assert model.count_params() == json.loads((RUN / "summary.json").read_text())["parameters"] == 147


def test_evaluate_and_predict_open_the_old_run(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    summary = json.loads((run / "summary.json").read_text())
    result = CliRunner().invoke(main, ["evaluate", str(run), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] == pytest.approx(summary["final"]["val_accuracy"], abs=1e-6)

    from sklearn.datasets import load_iris

    iris = load_iris()
    np.save(tmp_path / "flowers.npy", iris.data[::10].astype("float32"))
    result = CliRunner().invoke(main, ["predict", str(run), str(tmp_path / "flowers.npy"),
                                       "-o", str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    predicted = [row["prediction"] for row in csv.DictReader((tmp_path / "p.csv").open())]
    assert np.mean([p == iris.target_names[t] for p, t in zip(predicted, iris.target[::10])]) > 0.8


def test_the_old_search_resumes(tmp_path):
    import optuna

    folder = tmp_path / "search"
    shutil.copytree(SEARCH, folder)
    result = CliRunner().invoke(main, ["search", "--resume", str(folder), "--trials", "3"])
    assert result.exit_code == 0, result.output
    study = optuna.load_study(study_name="tiny", storage=f"sqlite:///{folder / 'study.db'}")
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    widths = [t.params["params.width"] for t in study.trials]
    assert widths[:2] == [12, 12] and widths[2] in (4, 8, 12, 16)     # the old trials, then a new one
    rows = list(csv.DictReader((folder / "trials.csv").open()))
    assert [row["trial"] for row in rows] == ["0", "1", "2"] and (folder / "trials" / "002" / "model.keras").exists()
