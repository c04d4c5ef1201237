"""Stage 7, search: `builder search` runs an Optuna study over a spec's `search:` space.

Modules:

    study   the search folder, the study (samplers, pruners, trials as run folders), resume
    report  report.md and its plots: history, parameter importances, the Pareto front

The space itself (paths, probes, concrete specs) is `builder.graph.search_space`, because
`validate` checks it without Keras. Importing this package imports neither Keras nor Optuna.
"""

SAMPLERS = ("tpe", "random", "grid")          # --sampler: study.make_sampler makes each
PRUNERS = ("median", "hyperband", "none")     # --pruner: study.make_pruner makes each
