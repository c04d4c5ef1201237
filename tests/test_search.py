"""`builder search`: the search section's paths and concrete specs (no Keras), and tiny searches end to end.

The end-to-end searches train a 3-layer MLP on iris for 2 epochs per trial: a few seconds each.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from click.testing import CliRunner

from builder.cli import load_graph, main
from builder.graph import resolve, search_space
from builder.language.loader import load, load_text
from builder.language.parser import parse

SPECS = Path(__file__).resolve().parent.parent / "specs"

TINY = """\
name: tiny
params: {width: 8}
inputs: {x: {shape: [4]}}
layers:
  - {id: hidden, type: Dense, units: "${width}", activation: relu}
  - {id: out, type: Dense, units: 3, activation: softmax}
train:
  data: {source: builtin, name: iris}
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  epochs: 2
  batch_size: 16
  seed: 0
search:
SEARCH
"""

SPACE = """\
  space:
    params.width: {type: int, low: 4, high: 16, step: 4}
    train.optimizer.learning_rate: {type: float, low: 1.0e-3, high: 3.0e-2, log: true}
    layers.hidden.activation: {type: choice, values: [relu, tanh]}
"""


def write(tmp_path: Path, search: str = SPACE, name: str = "tiny.yaml") -> Path:
    path = tmp_path / name
    path.write_text(TINY.replace("SEARCH\n", search))
    return path


# --- paths and concrete specs (no Keras) ------------------------------------------------------------------

BLOCKS = """\
name: blocks
params: {width: 8}
blocks:
  pair:
    params: {units: 4}
    layers:
      - {id: a, type: Dense, units: "${units}"}
inputs: {x: {shape: [4]}}
layers:
  - {id: stack, block: pair, repeat: 1, with: {units: "${width}"}}
  - {id: out, type: Dense, units: 3}
train:
  optimizer: adam
  data: {source: csv, path: data/table.csv, label: y}
search:
  space:
    layers.stack.repeat: {type: int, low: 1, high: 3}
    layers.stack.units: {type: choice, values: [4, 8]}
    blocks.pair.layers.a.activation: {type: choice, values: [relu, tanh]}
    train.optimizer.learning_rate: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
"""


def test_paths_name_where_values_go_and_a_trial_spec_is_an_ordinary_spec(tmp_path):
    document = load_text(BLOCKS, str(tmp_path / "blocks.yaml"))
    spec = parse(document)
    found, problems = search_space.targets(spec, document)
    assert not problems
    assert found["layers.stack.repeat"].at == ("layers", 0, "repeat")
    assert found["layers.stack.units"].at == ("layers", 0, "with", "units")
    assert found["blocks.pair.layers.a.activation"].at == ("blocks", "pair", "layers", 0, "activation")
    assert found["train.optimizer.learning_rate"].at == ("train", "optimizer", "learning_rate")
    values = {"layers.stack.repeat": 3, "layers.stack.units": 8, "blocks.pair.layers.a.activation": "tanh",
              "train.optimizer.learning_rate": 0.002}
    data = search_space.concrete(document.data, values, found, spec_dir=tmp_path)
    assert "search" not in data and "search" in document.data      # the original is untouched
    assert data["train"]["optimizer"] == {"type": "adam", "learning_rate": 0.002}   # `adam` became a mapping
    assert data["train"]["data"]["path"] == str(tmp_path / "data" / "table.csv")     # trains from any folder
    text = search_space.dump(data, "a header")
    assert text.startswith("# a header\n")
    again = load_text(text, "trial.yaml")
    assert again.data == data            # the text reads back to the same values
    graph = resolve(parse(again), again)
    assert [n for n in graph.models["blocks"].nodes] == ["x", "stack_1.a", "stack_2.a", "stack_3.a", "out"]
    optimizer = search_space.target(document.data, "train.optimizer.type")
    assert search_space.concrete(document.data, {"o": "sgd"}, {"o": optimizer})["train"]["optimizer"] == \
        {"type": "sgd"}


def test_a_dumped_spec_reads_back_the_same_under_yaml_1_2():
    """Text that YAML 1.2 would read as a number, boolean or null is quoted; numbers stay numbers."""
    data = {"texts": ["1e-3", "yes", "no", "010", "0o17", "null", "", " x", "${a * 2}", "relu"],
            "numbers": [1e-3, 3, 2.5e-10, True, None]}
    assert load_text(search_space.dump(data), "x.yaml").data == data


def test_the_search_section_is_checked_by_validate(tmp_path):
    path = write(tmp_path, SPACE + "    params.widht: {type: int, low: 1, high: 2}\n")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:20:5: error: search path 'params.widht': the spec has no parameter 'widht'" in result.stderr
    assert "did you mean 'width'?" in result.stderr


def test_render_search_marks_the_nodes_a_search_changes(tmp_path):
    out = tmp_path / "lenet.dot"
    result = CliRunner().invoke(main, ["render", str(SPECS / "lenet_search.yaml"), "--search", "--no-shapes",
                                       "-o", str(out)])
    assert result.exit_code == 0, result.output
    dot = out.read_text()
    assert r"c1 : Conv2D\nsearch $\{c1\}: 4..16 step 2" in dot
    assert r"search repeat: 1..3" in dot and r"search $\{f6\}: 32..128 step 16" in dot
    assert "train.optimizer.learning_rate: 0.0003..0.01 log" in dot      # a setting of no node: the note


def test_every_library_spec_with_a_search_section_resolves_at_both_ends_of_its_ranges():
    graph = load_graph(str(SPECS / "lenet_search.yaml"), {})
    assert graph.spec.search is not None and len(graph.spec.search.space) == 6


# --- searches ----------------------------------------------------------------------------------------------

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
    spec = write(tmp_path, SPACE + "  objective: {metric: val_loss}\n")
    folder = search(spec, SearchOptions(trials=2, seed=0, out=tmp_path / "s", verbose=False))
    assert len(read_rows(folder.table)) == 2
    # a killed process leaves a trial running: resume fails it and runs its values again
    study = optuna.load_study(study_name="tiny", storage=folder.storage_url)
    left = study.ask(fixed_distributions=study.trials[0].distributions)
    result = CliRunner().invoke(main, ["search", "--resume", str(folder.path), "--trials", "3"])
    assert result.exit_code == 0, result.output
    assert "1 interrupted trial will run again" in result.output
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
    graph = resolve(parse(best), best)
    run = train(graph, folder.best, TrainOptions(runs_root=tmp_path / "runs", verbose=0, diagram=False))
    assert json.loads(run.summary.read_text())["status"] == "completed"


def test_trials_that_all_score_the_same_give_a_reason_instead_of_importances(tmp_path):
    import optuna

    from builder.search.report import _importances

    spec = parse(load(write(tmp_path)))
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
    spec = write(tmp_path)
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
    spec = write(tmp_path, search)
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
    spec.write_text(TINY.replace("search:\nSEARCH\n", ""))
    result = CliRunner().invoke(main, ["search", str(spec), "--trials", "1", "--out", str(tmp_path / "s")])
    assert result.exit_code == 1
    assert "the spec has no `search:` section" in result.stderr
