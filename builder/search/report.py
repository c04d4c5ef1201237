"""What a search leaves behind: trials.csv, best.yaml, report.md and its plots.

The plots are the objective over trials (history.png), fANOVA parameter importances
(importance.png, when complete trials differ in both values and score) and, with two objectives,
the Pareto front (pareto.png).

Public entry points: `write_outputs(folder, spec, study)`, `best_trials(study, spec)`.
"""

from __future__ import annotations

import csv

import optuna

from builder.language.spec import Spec
from builder.search.folder import SearchFolder
from builder.training.run_folder import read_json, write_atomic


def _objective_names(spec: Spec) -> list[str]:
    return [g.metric for g in spec.search.goals]


def _finished(study: optuna.Study) -> list:
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]


def best_trials(study: optuna.Study, spec: Spec) -> list:
    """The best trial (one objective), or the Pareto front ordered by the first objective (two)."""
    if not _finished(study):
        return []
    if len(spec.search.goals) == 1:
        return [study.best_trial]
    sign = -1 if spec.search.goals[0].goal == "maximize" else 1
    return sorted(study.best_trials, key=lambda t: sign * t.values[0])


def write_outputs(folder: SearchFolder, spec: Spec, study: optuna.Study) -> None:
    """trials.csv, best.yaml, the plots and report.md, from the study as it stands."""
    names = _objective_names(spec)
    paths = list(spec.search.space)
    with folder.table.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["trial", "state", *names, "params", "epochs", "wall_time_s", *paths, "run", "note"])
        for t in study.trials:
            attrs = t.user_attrs
            out.writerow([t.number, t.state.name.lower(), *(t.values or [""] * len(names)), attrs.get("params", ""),
                          attrs.get("epochs", ""), attrs.get("wall_time_s", ""),
                          *(t.params.get(p, "") for p in paths), attrs.get("run", ""),
                          "interrupted" if attrs.get("interrupted") else attrs.get("note", "")])
    front = best_trials(study, spec)
    if front:
        best = front[0]
        values = ", ".join(f"{n} {v:.6g}" for n, v in zip(names, best.values))
        header = (f"# the best trial ({best.number}: {values}) of search {folder.path.name}; "
                  f"train it with `builder train best.yaml`\n")
        write_atomic(folder.best, header + folder.trial_spec(best.number).read_text())
    importances = _importances(study, spec)
    _plot_history(folder, spec, study)
    _plot_importances(folder, importances)
    if len(names) == 2:
        _plot_pareto(folder, spec, study, front)
    write_atomic(folder.report, _report(folder, spec, study, front, importances))


def _importances(study: optuna.Study, spec: Spec) -> dict | str:
    """fANOVA importances of the dimensions for the first objective, or why there are none yet."""
    finished = _finished(study)
    if len(finished) < 2:
        return f"parameter importances need at least 2 complete trials; this search has {len(finished)}"
    varied = [p for p in spec.search.space if len({repr(t.params.get(p)) for t in finished}) > 1]
    if not varied:
        return "parameter importances need dimensions whose values differ between complete trials"
    scores = {t.values[0] for t in finished}
    if len(scores) == 1:
        return (f"parameter importances need complete trials whose objective values differ; "
                f"every one scored {scores.pop():g}")
    try:
        return optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), params=varied,
            target=lambda t: t.values[0])
    except (RuntimeError, ValueError, ZeroDivisionError) as error:
        return f"parameter importances could not be computed: {error}"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_history(folder: SearchFolder, spec: Spec, study: optuna.Study) -> None:
    goal = spec.search.goals[0]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    done = _finished(study)
    if done:
        xs, ys = [t.number for t in done], [t.values[0] for t in done]
        ax.plot(xs, ys, "o", color="#1f77b4", label="complete")
        pick = max if goal.goal == "maximize" else min
        best, line = None, []
        for y in ys:
            best = y if best is None else pick(best, y)
            line.append(best)
        ax.step(xs, line, where="post", color="#d62728", label="best so far")
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values]
    if pruned:
        ax.plot([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned],
                "x", color="#7f7f7f", label="pruned (last epoch)")
    ax.set_xlabel("trial")
    ax.set_ylabel(goal.metric)
    ax.set_title(f"{study.study_name}: {goal.metric} ({goal.goal})")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder.history_plot, dpi=110)
    plt.close(fig)


def _plot_importances(folder: SearchFolder, importances: dict | str) -> None:
    if not isinstance(importances, dict) or not importances:
        folder.importance_plot.unlink(missing_ok=True)
        return
    plt = _pyplot()
    names = list(importances)[::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(names) + 1.4))
    ax.barh(names, [importances[n] for n in names], color="#2ca02c")
    ax.set_xlabel("importance (fANOVA, share of the objective's variance)")
    ax.set_title("parameter importances")
    fig.tight_layout()
    fig.savefig(folder.importance_plot, dpi=110)
    plt.close(fig)


def _plot_pareto(folder: SearchFolder, spec: Spec, study: optuna.Study, front: list) -> None:
    a, b = spec.search.goals
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    done = _finished(study)
    ax.plot([t.values[1] for t in done], [t.values[0] for t in done], "o", color="#9e9e9e", label="trials")
    ordered = sorted(front, key=lambda t: t.values[1])
    ax.plot([t.values[1] for t in ordered], [t.values[0] for t in ordered], "o-", color="#d62728",
            label="Pareto front")
    ax.set_xlabel(f"{b.metric} ({b.goal})")
    ax.set_ylabel(f"{a.metric} ({a.goal})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder.pareto_plot, dpi=110)
    plt.close(fig)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def _trial_table(trials: list, names: list[str], paths: list[str]) -> list[str]:
    lines = ["| trial | " + " | ".join(names) + " | params | epochs | " + " | ".join(f"`{p}`" for p in paths) + " |",
             "|" + "---|" * (3 + len(names) + len(paths))]
    for t in trials:
        lines.append(f"| {t.number} | " + " | ".join(_cell(v) for v in t.values) +
                     f" | {t.user_attrs.get('params', 0):,} | {t.user_attrs.get('epochs', '')} | " +
                     " | ".join(_cell(t.params.get(p)) for p in paths) + " |")
    return lines


def _report(folder: SearchFolder, spec: Spec, study: optuna.Study, front: list, importances: dict | str) -> str:
    info = read_json(folder.info)
    options = info["options"]
    names = _objective_names(spec)
    paths = list(spec.search.space)
    states: dict[str, int] = {}
    for t in study.trials:
        key = "interrupted" if t.user_attrs.get("interrupted") else t.state.name.lower()
        states[key] = states.get(key, 0) + 1
    from builder.graph.search_space import describe

    goals = " and ".join(f"`{g.metric}` ({g.goal})" for g in spec.search.goals)
    lines = [f"# Search: {study.study_name}", "",
             f"Spec `{info['spec']}`, searched with builder search: {options['sampler']} sampler, "
             f"{options['pruner']} pruner, objective {goals}, parameter budget {options['max_params']:,}.",
             "", "Trials: " + ", ".join(f"{n} {s}" for s, n in sorted(states.items())) + ".", "",
             "## Search space", "", "| path | values |", "|---|---|"]
    lines += [f"| `{p}` | {describe(d)} |" for p, d in spec.search.space.items()]
    lines += [""]
    if front:
        best = front[0]
        title = "Best trial" if len(names) == 1 else "Pareto front (best first objective first)"
        lines += [f"## {title}", ""] + _trial_table(front, names, paths) + [
            "", f"`best.yaml` is trial {best.number}'s concrete spec: `builder train {folder.best}`.", ""]
        done = sorted(_finished(study), key=lambda t: t.values[0], reverse=spec.search.goals[0].goal == "maximize")
        lines += ["## Complete trials, best first", ""] + _trial_table(done[:20], names, paths) + [""]
    else:
        lines += ["No trial has completed yet.", ""]
    lines += ["## Parameter importances", ""]
    if isinstance(importances, dict):
        count = len(_finished(study))
        lines += [f"fANOVA over the {count} complete trials (the share of the first objective's variance each "
                  "dimension explains; rough with few trials).", ""]
        lines += ["| path | importance |", "|---|---|"] + [f"| `{p}` | {v:.3f} |" for p, v in importances.items()]
        lines += ["", "![importances](importance.png)"]
    else:
        lines += [importances + "."]
    lines += ["", "## Optimisation history", "", "![history](history.png)", ""]
    if len(names) == 2:
        lines += ["![Pareto front](pareto.png)", ""]
    lines += ["Every trial's row (pruned and failed ones with the reason) is in `trials.csv`; each trained trial's "
              "run folder is under `trials/`.", ""]
    return "\n".join(lines)
