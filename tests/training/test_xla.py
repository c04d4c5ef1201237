"""`jit_compile: auto` on TensorFlow without a GPU: the run's first calls timed without XLA and with, the faster kept."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("keras")

from spec_helpers import graph_of, iris_mlp  # noqa: E402

from builder.training import xla  # noqa: E402
from builder.training.xla import XlaProbe  # noqa: E402


class FakeModel:
    """What the probe touches of a Keras model: `jit_compile`, the train/test/predict functions; each call of
    the train function runs `steps_per_call` steps in the seconds `seconds` gives a step of its kind."""

    def __init__(self, seconds: dict, fails: bool = False):
        self.seconds, self.fails, self.clock = seconds, fails, [0.0]
        self.jit_compile = False
        self.made = []   # the settings train functions were made with
        self.make_train_function(force=True)
        self.test_function = self.predict_function = "made"

    def make_train_function(self, force=False):
        jit, calls = self.jit_compile, []
        self.made.append(jit)

        def function(steps):
            if jit and self.fails:
                raise ValueError("no XLA kernel for this op")
            tracing = 0.0 if calls else 3.0   # a function's first call traces (or compiles) it
            calls.append(steps)
            self.clock[0] += tracing + steps * self.seconds["xla" if jit else "plain"]
            return "xla" if jit else "plain"

        function.jit = jit
        self.train_function = function


def run_epochs(probe: XlaProbe, model: FakeModel, epochs: int, steps_per_epoch: int = 100, per_call: int = 8):
    """fit's loop: calls of `per_call` steps (the last of an epoch shorter), the probe's hooks around each."""
    probe.set_model(model)
    probe.set_params({"steps": steps_per_epoch, "epochs": epochs})
    probe.on_train_begin()
    ran = []
    for _ in range(epochs):
        for begin in range(0, steps_per_epoch, per_call):
            end = min(begin + per_call, steps_per_epoch) - 1
            probe.on_train_batch_begin(begin)
            ran.append(model.train_function(end - begin + 1))
            probe.on_train_batch_end(end)
    return ran


def probe_of(model: FakeModel, steps_per_epoch: int = 100, epochs: int = 10):
    said = []
    probe = XlaProbe(steps_per_epoch, epochs, say=said.append)
    probe.clock = lambda: model.clock[0]
    return probe, said


def test_faster_xla_steps_are_kept_and_the_run_goes_on_with_them():
    model = FakeModel({"plain": 0.020, "xla": 0.010})
    probe, said = probe_of(model)
    ran = run_epochs(probe, model, 2)   # 13 calls an epoch, the last of 4 steps (not timed)
    # plain: its first call and 4 timed; XLA: its first call and 4 timed; plain again: 4 timed (an epoch's end between)
    assert ran == ["plain"] * 5 + ["xla"] * 5 + ["plain"] * 5 + ["xla"] * 11   # no call repeated or skipped
    assert probe.choice["jit_compile"] is True and model.jit_compile is True
    assert probe.choice["plain_ms_per_step"] == 20.0 and probe.choice["xla_ms_per_step"] == 10.0
    assert model.train_function.jit is True   # the XLA function itself, not the probe's guard
    assert model.test_function is None and model.predict_function is None   # remade with XLA when first used
    assert said == ["jit_compile auto: XLA (XLA steps took 10.0 ms against 20.0 ms without (2.00x))"]


def test_slower_xla_steps_give_the_plain_function_back_without_tracing_it_again():
    model = FakeModel({"plain": 0.010, "xla": 0.0095})   # faster, but not by the margin
    probe, _ = probe_of(model, epochs=30)
    plain = model.train_function
    ran = run_epochs(probe, model, 2)
    assert ran[15:] == ["plain"] * 11
    assert model.train_function is plain and model.jit_compile is False
    assert model.made == [False, True]   # one XLA compilation, the plain function made once
    assert probe.choice["why"] == "XLA steps took 9.5 ms against 10.0 ms without; not 1.11x faster"


def test_a_model_xla_cannot_compile_falls_back_to_the_plain_function_for_good():
    model = FakeModel({"plain": 0.010, "xla": 0.005}, fails=True)
    probe, _ = probe_of(model, epochs=30)
    assert run_epochs(probe, model, 2) == ["plain"] * 26   # the failing call ran plain instead
    assert probe.choice == {"jit_compile": False, "why": "XLA could not compile this model (ValueError)"}
    assert model.jit_compile is False


def test_a_short_run_is_not_probed():
    model = FakeModel({"plain": 0.010, "xla": 0.001})
    probe, _ = probe_of(model, steps_per_epoch=100, epochs=2)   # 1.5 s left after the first calls; tracing took 3 s
    run_epochs(probe, model, 2)
    assert model.made == [False] and probe.choice["jit_compile"] is False
    assert probe.choice["why"].startswith("a short run: 1.6 s left at 10.0 ms a step, under 4x the 3.08 s")


def test_a_later_phase_keeps_the_choice_after_compiling_again():
    model = FakeModel({"plain": 0.020, "xla": 0.010})
    probe, _ = probe_of(model)
    run_epochs(probe, model, 2)
    model.jit_compile = False   # what compile's `auto` does on a CPU, for the next phase
    model.make_train_function(force=True)
    assert run_epochs(probe, model, 1) == ["xla"] * 13


def test_a_run_records_its_choice_and_loses_no_step_to_the_probe(tmp_path, monkeypatch):
    import keras

    from builder.training.run import TrainOptions, train

    monkeypatch.setattr(xla, "PAYBACK", 0.0)   # a seconds-long run, probed all the same
    graph = graph_of(tmp_path, iris_mlp(epochs=6, batch_size=4).replace("seed: 3", "seed: 3\n  steps_per_execution: 1"))
    run = train(graph, tmp_path / "spec.yaml", TrainOptions(out=tmp_path / "run", verbose=0))
    summary = json.loads(run.summary.read_text())
    choice = summary["jit_compile"]
    assert set(choice) == {"jit_compile", "why", "plain_ms_per_step", "xla_ms_per_step"}
    assert choice["jit_compile"] == (choice["xla_ms_per_step"] <= xla.MARGIN * choice["plain_ms_per_step"])
    model = keras.models.load_model(run.model)
    steps = -(-summary["samples"]["train"] // 4)
    assert int(model.optimizer.iterations) == 6 * steps   # the probe's calls were the run's own steps
    assert summary["final"]["accuracy"] > 0.8
