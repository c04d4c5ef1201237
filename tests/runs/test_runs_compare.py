"""`builder runs` and `builder compare`: run folders listed and set side by side, from their files alone.

Two real runs of a tiny iris MLP (2 epochs, the second with `--set`s) are trained once for the module;
the search folder is `tests/fixtures/search-fd2e3fd`, a real one an older builder wrote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from spec_helpers import ROOT, TESTS, graph_of, iris_mlp

from builder.cli import main
from builder.runs.listing import best_of
from builder.training.run_folder import read_history

SEARCH = TESTS / "fixtures" / "search-fd2e3fd"     # trials 0 and 1, objective val_loss (minimised)
OLD_RUN = TESTS / "fixtures" / "run-fd2e3fd"
WIDER = {"layers.hidden.units": 8, "train.optimizer.learning_rate": 0.05}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """runs/iris-a (the spec as written) and runs/iris-b (with WIDER's --set values), 2 epochs each."""
    pytest.importorskip("keras")
    from builder.training.run import TrainOptions, train

    root = tmp_path_factory.mktemp("runs-compare")
    for name, overrides in (("iris-a", {}), ("iris-b", WIDER)):
        graph = graph_of(root, iris_mlp(epochs=2), overrides)
        train(graph, root / "spec.yaml", TrainOptions(out=root / "runs" / name, verbose=0, diagram=False,
                                                      overrides=overrides))
    return root / "runs"


def invoke(*args: str):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


# --- builder runs -------------------------------------------------------------------------------------------

def test_runs_lists_each_run_with_its_best_validation_metric(runs):
    result = invoke("runs", runs, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["name"] for r in rows] == ["iris-a", "iris-b"]   # oldest first
    for row in rows:
        history = read_history(runs / row["name"] / "history.csv")
        assert row["status"] == "completed" and row["epochs"] == 2 and row["problems"] == []
        assert row["metric"] == "val_accuracy"                  # no early stopping: val_accuracy, then val_loss
        assert row["best"] == max(h["val_accuracy"] for h in history)
        assert row["backend"] and row["device"] and row["wall_time_s"] > 0
    assert rows[1]["overrides"] == WIDER

    text = invoke("runs", runs).output
    header, first, second = text.splitlines()
    assert header.split() == ["name", "spec", "status", "epochs", "best", "wall", "time", "backend", "device"]
    assert first.startswith("iris-a") and "completed" in first and "val_accuracy" in first
    assert "--set layers.hidden.units=8" in second

    losses = json.loads(invoke("runs", runs, "--metric", "val_loss", "--format", "json").output)
    assert [r["best"] for r in losses] == [min(h["val_loss"] for h in read_history(runs / n / "history.csv"))
                                           for n in ("iris-a", "iris-b")]


def test_runs_says_what_is_wrong_with_damaged_or_unfinished_folders(runs, tmp_path):
    for name in ("ok", "bad-summary", "killed", "garbage"):
        shutil.copytree(runs / "iris-a", tmp_path / name)
    (tmp_path / "bad-summary" / "summary.json").write_text('{"status": "compl')
    (tmp_path / "killed" / "summary.json").unlink()   # as after a kill -9 during epoch 2
    history = (tmp_path / "killed" / "history.csv").read_text().splitlines()
    (tmp_path / "killed" / "history.csv").write_text("\n".join(history[:2]) + "\n")
    (tmp_path / "garbage" / "history.csv").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "garbage" / "run.json").write_text("[1, 2]")
    (tmp_path / "garbage" / "spec.yaml").write_text("name: [unclosed\n")
    (tmp_path / "started" / "checkpoints").mkdir(parents=True)   # killed before anything was written
    (tmp_path / "notes").mkdir()                                   # not a run: skipped

    result = invoke("runs", tmp_path)
    assert result.exit_code == 0, result.output
    assert "1 other folder skipped" in result.output
    rows = {r["name"]: r for r in json.loads(invoke("runs", tmp_path, "--format", "json").output)}
    assert set(rows) == {"ok", "bad-summary", "killed", "garbage", "started"}
    assert rows["ok"]["status"] == "completed" and rows["ok"]["problems"] == []
    assert rows["bad-summary"]["status"] == "damaged"
    assert rows["bad-summary"]["problems"][0].startswith("summary.json: damaged: not JSON")
    assert rows["killed"]["status"] == "unfinished" and rows["killed"]["epochs"] == 1
    assert f"builder train --resume {tmp_path / 'killed'}" in rows["killed"]["problems"][0]
    garbage = " | ".join(rows["garbage"]["problems"])
    assert "run.json: damaged: expected a JSON object" in garbage
    assert "spec.yaml: invalid YAML" in garbage and "history.csv: cannot be read" in garbage
    assert rows["garbage"]["status"] == "completed" and rows["garbage"]["best"] is not None   # from summary.json
    assert rows["started"]["problems"][:2] == ["no run.json", "no spec.yaml"]
    text = result.output.splitlines()
    assert text[text.index(next(t for t in text if t.startswith("bad-summary"))) + 1].startswith(
        "  ! summary.json: damaged")


def test_runs_lists_search_folders_and_a_search_folders_trials(tmp_path):
    shutil.copytree(SEARCH, tmp_path / "search" / SEARCH.name)
    shutil.copytree(OLD_RUN, tmp_path / "search" / "stray-run")
    rows = {r["name"]: r for r in json.loads(invoke("runs", tmp_path / "search", "--format", "json").output)}
    search = rows[SEARCH.name]
    assert search["kind"] == "search" and search["trials"] == {"total": 2, "complete": 2}
    assert search["metric"] == "val_loss" and search["best_trial"] == 0
    assert search["best"] == pytest.approx(1.2475184202194214)
    assert rows["stray-run"]["kind"] == "run"
    text = invoke("runs", tmp_path / "search").output
    assert "2 trials" in text and "val_loss 1.2475 (trial 0)" in text

    trials = json.loads(invoke("runs", tmp_path / "search" / SEARCH.name, "--format", "json").output)
    assert [t["name"] for t in trials] == ["000", "001"]
    assert {t["metric"] for t in trials} == {"val_loss"}   # the search's objective, not val_accuracy
    assert trials[0]["best_epoch"] == 2                    # this older history counts epochs from 0


def test_runs_refuses_a_missing_folder_and_an_unlogged_metric(tmp_path):
    result = invoke("runs", tmp_path / "nowhere")
    assert result.exit_code == 1 and "no such folder" in result.output
    result = invoke("runs", SEARCH.parent, "--metric", "val_acc")
    assert result.exit_code == 2
    assert "no run here logged 'val_acc'" in result.output and "val_accuracy" in result.output


# --- builder compare ----------------------------------------------------------------------------------------

def test_compare_prints_final_and_best_metrics_and_the_spec_differences(runs, tmp_path):
    result = invoke("compare", runs / "iris-a", runs / "iris-b", "-o", tmp_path / "compare.png")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "metric        A final" in out
    history = read_history(runs / "iris-b" / "history.csv")
    value, epoch = best_of(history, "val_loss")
    assert next(line for line in out.splitlines() if line.startswith("val_loss")).endswith(f"{value:.4f} ({epoch})")
    assert "spec differences, A -> B (builder diff):" in out
    assert "units: 16 -> 8" in out and "train.optimizer.learning_rate: 0.02 -> 0.05" in out
    assert (tmp_path / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_plot_has_a_panel_per_metric_training_solid_validation_dashed(runs, tmp_path):
    result = invoke("compare", runs / "iris-a", runs / "iris-b", "-o", tmp_path / "compare.svg")
    assert result.exit_code == 0, result.output
    svg = (tmp_path / "compare.svg").read_text()
    assert svg.count('<g id="axes_') == 2                   # accuracy and loss, each with its val_ twin
    for text in ("accuracy", "loss", "validation", "training", f"A: {runs / 'iris-a'}"):
        assert f"<!-- {text} -->" in svg
    assert "stroke-dasharray" in svg                         # the dashed validation curves


def test_compare_json(runs):
    result = invoke("compare", runs / "iris-a", runs / "iris-b", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["letter"] for r in data["runs"]] == ["A", "B"]
    assert data["metrics"] == ["accuracy", "val_accuracy", "loss", "val_loss"]
    history = read_history(runs / "iris-a" / "history.csv")
    assert data["runs"][0]["best_by_metric"]["loss"]["value"] == min(h["loss"] for h in history)
    assert data["runs"][0]["final"]["loss"] == history[-1]["loss"]
    (changes,) = data["differences"]
    assert changes["by"] == "builder diff" and changes["equal"] is False
    assert [n["a"] for n in changes["diff"]["nodes"] if n["change"] == "changed"] == ["hidden"]


def test_compare_a_search_folder_against_the_spec_it_searched():
    result = invoke("compare", SEARCH, "--top", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["base"]["path"] == str(SEARCH / "spec.yaml")
    assert [r["title"] for r in data["runs"]] == [f"{SEARCH.name} trial 0", f"{SEARCH.name} trial 1"]
    assert {r["metric"] for r in data["runs"]} == {"val_loss"}
    first = data["differences"][0]
    assert first["letters"] == "base -> A" and first["by"] == "builder diff"
    assert [(d["what"], d["a"], d["b"]) for n in first["diff"]["nodes"] if n["change"] == "changed"
            for d in n["differences"]] == [("units", 8, 12)]   # params.width: 8 in the base spec, 12 in trial 0
    text = invoke("compare", SEARCH).output
    assert text.startswith(f"base: {SEARCH / 'spec.yaml'}") and "trial 1" not in text


def test_compare_falls_back_to_the_settings_when_a_spec_no_longer_loads(runs, tmp_path):
    shutil.copytree(runs / "iris-b", tmp_path / "old")
    (tmp_path / "old" / "spec.yaml").write_text("name: old\nlayers: 3\ntrain: {epochs: 2, batch_size: 8}\n")
    result = invoke("compare", runs / "iris-a", tmp_path / "old", "--format", "json")
    assert result.exit_code == 0, result.output
    (changes,) = json.loads(result.output)["differences"]
    assert changes["by"] == "settings" and "spec.yaml" in changes["note"]
    found = {s["what"]: (s["a"], s["b"]) for s in changes["settings"]}
    assert found["--set layers.hidden.units"] == ("(not given)", 8)
    assert found["train.batch_size"] == (16, 8) and "train.epochs" not in found


def test_compare_needs_two_runs_or_a_search_folder(runs, tmp_path):
    result = invoke("compare", runs / "iris-a")
    assert result.exit_code == 1 and "one run is nothing to compare it with" in result.output
    (tmp_path / "notes").mkdir()
    result = invoke("compare", runs / "iris-a", tmp_path / "notes")
    assert result.exit_code == 1 and "neither a run folder nor a search folder" in result.output
    result = invoke("compare", runs / "iris-a", runs / "iris-b", "-o", tmp_path / "plot.txt")
    assert result.exit_code == 2 and "expected a .png, .svg or .pdf file" in result.output


def test_runs_and_compare_never_import_keras(tmp_path):
    """Both read files: importing Keras (or TensorFlow) would cost seconds per listing."""
    code = ("import sys; from builder.cli import main\n"
            f"for args in (['runs', {str(SEARCH.parent)!r}], ['compare', {str(SEARCH)!r}, '--top', '2', '-o', "
            f"{str(tmp_path / 'c.png')!r}], ['compare', {str(OLD_RUN)!r}, {str(SEARCH / 'trials' / '001')!r}]):\n"
            "    try:\n"
            "        main(args)\n"
            "    except SystemExit as exit:\n"
            "        assert exit.code == 0, (args, exit.code)\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch'))\n"
            "print('heavy:', heavy)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("heavy: []")
    assert (tmp_path / "c.png").exists()
