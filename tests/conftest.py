"""The Keras backend a test run uses: `pytest --backend jax` (or `KERAS_BACKEND=jax pytest`).

Keras picks its backend once, at import, from `KERAS_BACKEND`; `--backend`
sets it before any test module imports Keras (xdist workers read the same
option). On TensorFlow, the default, the whole suite runs. On JAX and PyTorch
only the backend-sensitive modules below run (layers, training, data
pipelines, run folders): the rest (loader, spec language, drawing, the
keras.applications comparisons) does the same whatever the backend.
`make test` runs all three (see the Makefile).
"""

from __future__ import annotations

import os

import pytest
from spec_helpers import TESTS

BACKENDS = ("tensorflow", "jax", "torch")
EVERY_BACKEND = {"model/test_layers.py", "model/test_losses.py", "training/test_run.py",
                 "training/test_tensorboard.py", "training/test_named_data.py", "runs/test_evaluate_predict.py",
                 "training/kinds/test_translation.py"}


def pytest_addoption(parser):
    parser.addoption("--backend", choices=BACKENDS, default=None,
                     help="Keras backend for this run (sets KERAS_BACKEND); on jax and torch only the "
                          "backend-sensitive test modules run.")
    parser.addoption("--slow", action="store_true", help="also run the tests marked slow (skipped by default)")


def pytest_configure(config):
    backend = config.getoption("--backend")
    if backend:
        os.environ["KERAS_BACKEND"] = backend
    if test_backend() == "jax":
        # tests run many small programs once: XLA's CPU compiler at -O0 halves the JAX run's CPU time
        os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
    config.addinivalue_line("markers", "tensorflow_only: runs on the TensorFlow backend only")
    config.addinivalue_line("markers", "slow: too slow for the default suite; runs with --slow")
    config.addinivalue_line("markers", "bench_script: runs a benchmark script end to end at its --tiny size, "
                                       "in a subprocess (deselect with -m 'not bench_script')")


def test_backend() -> str:
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


test_backend.__test__ = False   # a helper, not a test


def pytest_report_header(config):
    return f"keras backend: {test_backend()}"


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--slow"):
        skip = pytest.mark.skip(reason="slow: run with --slow")
        for item in items:
            if item.get_closest_marker("slow"):
                item.add_marker(skip)
    backend = test_backend()
    if backend == "tensorflow":
        return
    keep, drop = [], []
    for item in items:
        where = item.path.relative_to(TESTS).as_posix()
        sensitive = where in EVERY_BACKEND and item.get_closest_marker("tensorflow_only") is None
        (keep if sensitive else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
