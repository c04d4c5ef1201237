"""`train.jit_compile: auto`: XLA or not, chosen by timing the run's own first steps each way.

XLA speeds some models up and slows others down on the same CPU (bench/RESULTS.md: a small transformer
1.6x faster with it, a small ResNet 0.9x), and Keras' own `auto` turns it off on every CPU. So on a
backend where the choice is open (`adapter.probes_xla()`: TensorFlow without a GPU), a plain supervised run
starts without XLA and times a few compiled calls, swaps in the same train step compiled by XLA for a
few calls, then the plain one again (plain, XLA, plain: a drift in the machine's speed shows), and keeps
the faster. No step is wasted: the probe's steps are the run's own, one optimizer throughout. Times are
per step (a call runs `steps_per_execution` of them); an epoch's last call, which may hold a short batch,
is not timed.

What XLA costs is its compilations: the first call, and again for each new batch shape (an epoch's short
last batch, validation's batches). On the bench's models (2 CPU cores) that came to 1.4 times the plain
function's first call (tracing) for a small transformer, 2 times for a small ResNet. A probe that finds
XLA no faster has paid that for nothing; one that finds it twice as fast wins half of the rest of the
run. So only runs whose rest takes at least `PAYBACK` plain first calls are probed.

An XLA compilation that fails (an op XLA has no kernel for) falls back to the plain function, for good.
`XlaProbe.choice` is what summary.json records: the setting chosen and why, with the timings.
"""

from __future__ import annotations

import statistics
import time

import keras

MEASURED = 4     # timed calls each way (after each function's first call, which traces or compiles)
PAYBACK = 4.0    # the rest of the run at the plain pace, in plain first calls, before XLA is tried
MARGIN = 0.9     # XLA is kept when its steps take at most this share of the plain ones' time


class XlaProbe(keras.callbacks.Callback):
    """Times the train function without XLA, with, and without again; keeps the faster (module docstring)."""

    def __init__(self, steps_per_epoch: int, epochs: int, say=None):
        super().__init__()
        self.steps_per_epoch, self.steps_left = steps_per_epoch, steps_per_epoch * epochs
        self.say = say or (lambda line: print(line, flush=True))
        self.choice: dict = {"jit_compile": False, "why": "the run ended before the probe did"}
        self.clock = time.perf_counter
        self._start_over()

    def _start_over(self):
        self.stage, self.first = "plain", None
        self.times: dict[str, list[float]] = {"plain": [], "xla": []}   # seconds a step
        self.plain_function = self.xla_function = None
        self.untimed = 1   # the next call traces (or compiles) its function

    def on_train_begin(self, logs=None):
        # each phase compiles again, which brings Keras' own `auto` back (no XLA on a CPU) and a new train function
        if self.stage == "done":
            if self.model.jit_compile != self.choice["jit_compile"]:
                self.model.jit_compile = self.choice["jit_compile"]
                self.model.make_train_function(force=True)
        else:   # a probe cut by a phase's end starts over
            self._start_over()
            self.model.jit_compile = False

    def on_train_batch_begin(self, batch, logs=None):
        self.begin, self.started = batch, self.clock()

    def on_train_batch_end(self, batch, logs=None):
        seconds, steps = self.clock() - self.started, batch - self.begin + 1
        self.steps_left -= steps
        if self.stage == "done":
            return
        if self.first is None:
            self.first = seconds
        last_of_epoch = batch + 1 >= self.params.get("steps", self.steps_per_epoch)
        if self.untimed or last_of_epoch:
            self.untimed = max(0, self.untimed - 1)
            return
        timed = self.times["xla" if self.stage == "xla" else "plain"]
        timed.append(seconds / steps)
        if len(timed) < (2 * MEASURED if self.stage == "plain again" else MEASURED):
            return
        {"plain": self._after_plain, "xla": self._after_xla, "plain again": self._after_both}[self.stage]()

    def _after_plain(self):
        pace = statistics.median(self.times["plain"])
        if self.steps_left * pace < PAYBACK * self.first:
            self._decide(False, f"a short run: {self.steps_left * pace:.1f} s left at {_ms(pace)} a step, under "
                                f"{PAYBACK:g}x the {self.first:.2f} s its first call took; XLA not tried")
            return
        self.stage, self.untimed = "xla", 1
        self.plain_function = self.model.train_function
        self.model.jit_compile = True
        self.model.make_train_function(force=True)
        self.xla_function = self.model.train_function

        def guarded(iterator):   # an op without an XLA kernel fails at the first call: back to plain, for good
            try:
                return self.xla_function(iterator)
            except Exception as exc:   # noqa: BLE001 (TensorFlow raises several error types here)
                if type(exc).__name__ in ("OutOfRangeError", "StopIteration"):   # the epoch's end, not a failure
                    raise
                self._decide(False, f"XLA could not compile this model ({type(exc).__name__})")
                return self.plain_function(iterator)

        self.model.train_function = guarded

    def _after_xla(self):
        self.stage = "plain again"   # the plain function is compiled already: its next call is timed
        self.model.train_function = self.plain_function

    def _after_both(self):
        plain, xla = statistics.median(self.times["plain"]), statistics.median(self.times["xla"])
        timing = {"plain_ms_per_step": round(plain * 1e3, 3), "xla_ms_per_step": round(xla * 1e3, 3)}
        if xla <= MARGIN * plain:
            self._decide(True, f"XLA steps took {_ms(xla)} against {_ms(plain)} without ({plain / xla:.2f}x)", timing)
        else:
            self._decide(False, f"XLA steps took {_ms(xla)} against {_ms(plain)} without; not {1 / MARGIN:.2f}x "
                                "faster", timing)

    def _decide(self, use_xla: bool, why: str, timing: dict | None = None):
        if self.stage == "done":
            return
        self.stage = "done"
        if self.plain_function is not None:   # the probe's wrapper goes: later errors are the run's own
            self.model.train_function = self.xla_function if use_xla else self.plain_function
        self.model.jit_compile = use_xla
        # validation and prediction compile with the setting in force when they first run
        self.model.test_function = self.model.predict_function = None
        self.choice = {"jit_compile": use_xla, "why": why, **(timing or {})}
        self.say(f"jit_compile auto: {'XLA' if use_xla else 'no XLA'} ({why})")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"
