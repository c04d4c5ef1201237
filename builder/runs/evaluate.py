"""Scoring a finished run: `builder evaluate RUN [--data FILE]`.

Public entry point: `evaluate_run(run, data_path=None)` -> `(samples, metrics by name)`.
"""

from __future__ import annotations

from pathlib import Path

from builder.language.spec import TrainSpec
from builder.training import augment as augmenting
from builder.training.backends import sample_count
from builder.training.kinds import EVALUATIONS
from builder.training.run_folder import RunFolder, load_run_model, run_data


def evaluate_run(run: RunFolder, data_path: Path | None = None) -> tuple[int, dict]:
    """A run's model on its validation data (or on `data_path`): (samples, metrics by name).

    The inputs and targets are the ones training scored: by default the spec model on the inputs and
    labels; what the kind's `@evaluation` hook says otherwise (the input itself for an autoencoder,
    what the kind makes of the data for seq2seq, language-model and diffusion); and one-hot labels for
    a run whose labels MixUp or CutMix mixed (its model is compiled for them).
    """
    graph, data = run_data(run, data_path)
    model = load_run_model(run)
    train_spec = graph.spec.train or TrainSpec()
    held_out = data_path is None and data.x_val is not None
    if train_spec.kind in EVALUATIONS:
        model, x, y = EVALUATIONS[train_spec.kind](graph, model, data, held_out)
    else:
        x, y = (data.x_val, data.y_val) if held_out else (data.x_train, data.y_train)
    mixer = augmenting.label_mixer(train_spec.augment)
    if mixer:
        y = augmenting.class_targets(model, y, graph.locate("train", "augment"), mixer)
    # the data's own sample weights (train.data.sample_weight) weigh the score as they weighed validation
    weights = data.w_val if held_out else data.w_train
    if weights is not None and isinstance(y, list):
        weights = [weights] * len(y)   # Keras takes one weight array per output
    return sample_count(x), model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
