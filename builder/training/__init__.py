"""Stage 5, training: a `Graph` and its data become a run folder.

Modules, in the order they import each other:

    run_folder    the run folder's layout, and reading a run back (graph, data, models, transform)
    data          the data sources (`@source`), split and scaled; data checked against the model's inputs
    augment       train.augment: preprocessing layers and MixUp/CutMix on training batches only
    objects       optimizer, schedule, losses and metrics from closed tables
    callbacks     checkpoint, backup for resume, history, NaN guard, throughput
    cluster       where the processes of a multi-worker run meet (plain Python, before Keras)
    distribution  train.distribute on the running backend
    transfer      train.init, freeze, phases' trainable sets
    kinds/        how a spec's models train together, one module per kind (`base.py`: the registries)
    backends/     what differs per Keras backend, one adapter each (`select.py`: which backend)
    run           train() and resume(): the run, phase by phase

Public entry points: `run.train(graph, spec_path, options)` and `run.resume(run, options)`. Importing
this package imports nothing heavy, so `backends.select` can choose the backend before Keras starts.
"""
