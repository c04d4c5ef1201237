"""`builder search` end to end: tiny searches, resumed, pruned, with one objective or two.

The searches train a 3-layer MLP on iris for 2 epochs per trial: a few seconds each.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner
from spec_helpers import SEARCH_SPACE, TINY_SEARCH, write_search_spec

from builder.cli import main
from builder.graph import load_graph
from builder.language.loader import load
from builder.language.parser import parse


def read_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_tiny_search_resumes_after_an_interruption_and_leaves_every_output(tmp_path, monkeypatch):
    import optuna

    from builder.search.study import SearchOptions, search
    from builder.training.run import TrainOptions, train

    monkeypatch.chdir(tmp_path)
    # val_loss, not the default val_accuracy: on 30 iris rows three trials can tie on accuracy, and ties
    # leave fANOVA nothing to explain (no importance.png; see the test below)
    spec = write_search_spec(tmp_path, SEARCH_SPACE + "  objective: {metric: val_loss}\n")
    folder = search(spec, SearchOptions(trials=2, seed=0, out=tmp_path / "s", verbose=False))
    assert len(read_rows(folder.table)) == 2
    # a killed process leaves a trial running: resume fails it and runs its values again
    study = optuna.load_study(study_name="tiny", storage=folder.storage_url)
    left = study.ask(fixed_distributions=study.trials[0].distributions)
    result = CliRunner().invoke(main, ["search", "--resume", str(folder.path), "--trials", "3"])
    assert result.exit_code == 0, result.output
    assert "1 interrupted trial will run again" in result.output
    # progress: which trial of how many, a line per epoch, and the best so far after each trial
    assert "(3 of 3): " in result.output and ", epoch 1/" in result.output
    assert "best so far: trial " in result.output
    study = optuna.load_study(study_name="tiny", storage=folder.storage_url)
    states = [t.state.name for t in study.trials]
    assert states.count("COMPLETE") + states.count("PRUNED") == 3 and states.count("FAIL") == 1
    assert study.trials[-1].params["params.width"] == left.params["params.width"]   # the interrupted values
    rows = read_rows(folder.table)
    assert [r["state"] for r in rows].count("fail") == 1 and rows[2]["note"] == "interrupted"
    for output in (folder.best, folder.report, folder.history_plot, folder.importance_plot):
        assert output.exists(), output
    report = folder.report.read_text()
    assert "## Best trial" in report and "## Parameter importances" in report
    assert (folder.trial_run(0) / "summary.json").exists()      # each trial a normal run folder
    # best.yaml: concrete (no search, values in) and `builder train` takes it as is
    best = load(folder.best)
    assert "search" not in best.data and isinstance(best.data["params"]["width"], int)
    best_trial = study.best_trial
    assert best.data["params"]["width"] == best_trial.params["params.width"]
    assert best.data["train"]["optimizer"]["learning_rate"] == best_trial.params["train.optimizer.learning_rate"]
    graph = load_graph(best)
    run = train(graph, folder.best, TrainOptions(runs_root=tmp_path / "runs", verbose=0, diagram=False))
    assert json.loads(run.summary.read_text())["status"] == "completed"


def test_trials_that_all_score_the_same_give_a_reason_instead_of_importances(tmp_path):
    import optuna

    from builder.search.report import _importances

    spec = parse(load(write_search_spec(tmp_path)))
    study = optuna.create_study(direction="maximize")
    distributions = {"params.width": optuna.distributions.IntDistribution(4, 16, step=4)}
    for width in (4, 8, 12):
        study.add_trial(optuna.trial.create_trial(params={"params.width": width}, distributions=distributions,
                                                  value=0.5))
    assert _importances(study, spec) == ("parameter importances need complete trials whose objective values "
                                         "differ; every one scored 0.5")
    study.add_trial(optuna.trial.create_trial(params={"params.width": 16}, distributions=distributions, value=0.9))
    assert set(_importances(study, spec)) == {"params.width"}


def test_trials_over_the_parameter_budget_are_pruned_before_training(tmp_path):
    spec = write_search_spec(tmp_path)
    result = CliRunner().invoke(main, ["search", str(spec), "--trials", "2", "--max-params", "20",
                                       "--out", str(tmp_path / "s"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    rows = read_rows(tmp_path / "s" / "trials.csv")
    assert [r["state"] for r in rows] == ["pruned", "pruned"]
    assert all("over --max-params 20: not trained" in r["note"] for r in rows)
    assert not list((tmp_path / "s" / "trials").iterdir())          # nothing trained
    assert not (tmp_path / "s" / "best.yaml").exists()
    assert "no trial completed" in result.output
    assert "need at least 2 complete trials" in (tmp_path / "s" / "report.md").read_text()


def test_two_objectives_report_a_pareto_front(tmp_path):
    search = ("  objectives: [{metric: val_accuracy}, {metric: params}]\n"
              "  space:\n    params.width: {type: choice, values: [4, 16]}\n")
    spec = write_search_spec(tmp_path, search)
    result = CliRunner().invoke(main, ["search", str(spec), "--trials", "2", "--sampler", "grid", "--epochs", "1",
                                       "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "s"
    rows = read_rows(folder / "trials.csv")
    assert sorted(int(r["params.width"]) for r in rows) == [4, 16]        # the grid, each point once
    assert {r["params"] for r in rows} == {"35", "131"}
    assert (folder / "pareto.png").exists()
    assert "## Pareto front" in (folder / "report.md").read_text()
    assert load(folder / "best.yaml").data["train"]["epochs"] == 1        # what the trial ran


def test_search_needs_a_search_section(tmp_path):
    spec = tmp_path / "plain.yaml"
    spec.write_text(TINY_SEARCH.replace("search:\nSEARCH\n", ""))
    result = CliRunner().invoke(main, ["search", str(spec), "--trials", "1", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "the spec has no `search:` section" in result.stderr
