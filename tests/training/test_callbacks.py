"""builder's Keras callbacks on their own: the history log's epoch numbers, and what a long run says."""

from __future__ import annotations

import pytest

pytest.importorskip("keras")

from builder.training.callbacks import HistoryLog, Progress  # noqa: E402
from builder.training.run_folder import read_history  # noqa: E402


def test_history_counts_epochs_from_1_and_renumbers_a_history_counted_from_0(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,0.9\n1,0.8\n2,0.7\n")   # written when builder counted from 0
    log = HistoryLog(path)
    log.on_train_begin()
    log.on_epoch_begin(2)   # a resume after two finished epochs (Keras counts from 0: the third epoch)
    log.on_epoch_end(2, {"loss": 0.6})
    assert [(row["epoch"], row["loss"]) for row in read_history(path)] == [(1, 0.9), (2, 0.8), (3, 0.6)]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def steps(progress: Progress, clock: FakeClock, count: int, seconds_a_step: float, epoch: int = 0):
    progress.on_epoch_begin(epoch)
    for batch in range(count):
        clock.now += seconds_a_step
        progress.on_train_batch_end(batch, {"loss": 1.5})


def progress_of(epochs: int, steps_an_epoch: int, **options):
    said, warned, clock = [], [], FakeClock()
    progress = Progress(epochs, say=said.append, warn=warned.append, **options)
    progress.set_params({"steps": steps_an_epoch, "epochs": epochs})
    progress.clock = clock
    return progress, clock, said, warned


def test_a_run_that_would_take_hours_is_warned_once_with_the_way_to_a_smaller_one():
    progress, clock, _, warned = progress_of(12, 1240, every_s=None, hint="for a version that trains fast: --small")
    steps(progress, clock, 10, seconds_a_step=2.1)
    assert warned == ["at this pace (2.10 s a step) the run needs about 8.7 h more for 12 epochs of 1,240 steps; "
                      "for a version that trains fast: --small"]
    steps(progress, clock, 10, seconds_a_step=2.1)
    assert len(warned) == 1


def test_a_quick_run_is_not_warned():
    progress, clock, _, warned = progress_of(3, 100, every_s=None)
    steps(progress, clock, 100, seconds_a_step=0.05)
    assert warned == []


def test_piped_output_gets_a_line_every_so_often_inside_an_epoch():
    progress, clock, said, _ = progress_of(1, 400, every_s=30.0)
    steps(progress, clock, 400, seconds_a_step=1.0)
    assert len(said) == 13   # 400 s of steps, a line every 30 s
    assert said[0] == "epoch 1/1: step 30/400, loss 1.5000, 1.00 s a step, 6 min left in the epoch"
