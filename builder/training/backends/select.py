"""Choosing the Keras backend and importing Keras, without TensorFlow's start-up noise.

Keras reads `KERAS_BACKEND` once, when it is first imported, so the choice is
made here, before that: `--backend` (every command that touches Keras) or the
`KERAS_BACKEND` variable, else Keras' own default (`~/.keras/keras.json`, then
TensorFlow). `choose` checks the name and that the backend is installed with
`importlib.util.find_spec`, which imports nothing; `import_keras` sets the
variable and imports Keras. Nothing here imports Keras at module level, so
`builder --help` and `builder validate` stay free of it. What differs per
backend once Keras runs (data pipelines, distribution, devices) lives in
`builder.training.backends`.

TensorFlow's C++ side writes INFO lines (oneDNN, CUDA probing, CPU features)
straight to file descriptor 2 before any Python logging setting can reach it,
so a user running `builder build` on a laptop would see a screen of
"could not find cuda drivers". `quiet_stderr` sends fd 2 to a temporary file
while Keras starts, then replays every line that is not such a note.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import sys
import tempfile

from builder.errors import CommandError

_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IW]\d{4} [\d:. ]+\s+\d+ \S+:\d+\]"
    r"|E\d{4} [\d:. ]+\s+\d+ cuda_\w+\.cc:\d+\] failed call to cuInit"
    r"|To enable the following instructions:)"
)


@contextlib.contextmanager
def quiet_stderr():
    """Hide TensorFlow's native start-up notes; keep everything else written to stderr."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (pytest capture, notebooks)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True):
                if not _NOISE.match(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


# --- which backend ---------------------------------------------------------------------------------

BACKENDS = ("tensorflow", "jax", "torch")
INSTALL = {"tensorflow": "pip install tensorflow", "jax": "pip install jax  (or: pip install 'builder[jax]')",
           "torch": "pip install torch  (or: pip install 'builder[torch]')"}
# what `train.distribute` can be (the spec's TrainSpec.distribute; a test keeps them equal), and on each backend
DISTRIBUTE_MODES = ("one_device", "mirrored", "multi_worker", "model_parallel")
DISTRIBUTE = {
    "tensorflow": ("one_device", "mirrored"),                                   # tf.distribute.MirroredStrategy
    "jax": ("one_device", "mirrored", "multi_worker", "model_parallel"),       # keras.distribution
    "torch": ("one_device",),
}


class BackendError(CommandError):
    """A backend that cannot run: unknown, not installed, or not the one Keras already runs on.

    Its message is one line that names the fix; the command line prints it as `Error: ...`.
    """


_chosen: str | None = None


def choose(name: str | None) -> str | None:
    """Record the backend asked for with `--backend` (None: `KERAS_BACKEND` or Keras' default).

    Checks the name at once; whether it is installed is checked by `require`, when Keras is needed.
    """
    global _chosen
    if name is not None:
        _check_name(name, "--backend")
    _chosen = name
    return name


def _check_name(name: str, where: str) -> None:
    if name not in BACKENDS:
        raise BackendError(f"unknown Keras backend {name!r} (from {where}); choose tensorflow, jax or torch")


def keras_config_backend() -> str | None:
    """The backend `~/.keras/keras.json` (or `$KERAS_HOME/keras.json`) names, as Keras would read it."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as handle:
            value = json.load(handle).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def requested() -> tuple[str, str]:
    """(backend, where the choice comes from) without importing Keras."""
    if _chosen is not None:
        return _chosen, "--backend"
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    configured = keras_config_backend()
    if configured:
        return configured, "keras.json"
    return "tensorflow", "Keras' default"


def installed(backend: str) -> bool:
    """Whether the backend's package can be imported (found, not imported)."""
    try:
        return importlib.util.find_spec(backend) is not None
    except (ImportError, ValueError):   # a parent package missing, or a module blocked in sys.modules
        return False


def require() -> str:
    """The backend Keras will run on; a `BackendError` naming the fix if it is unknown or missing."""
    backend, where = requested()
    _check_name(backend, where)
    if sys.modules.get("keras") is not None:
        running = sys.modules["keras"].backend.backend()
        if running != backend and where in ("--backend", "KERAS_BACKEND"):
            raise BackendError(f"Keras already runs on {running} in this process and cannot switch to {backend} "
                               f"(from {where}); run builder in a new process")
        return running
    if not installed(backend):
        how = "--backend" if where == "--backend" else where
        raise BackendError(f"the {backend} backend (from {how}) is not installed; install it with: "
                           f"{INSTALL[backend]}, or choose another with --backend")
    return backend


def check_distribute(backend: str, mode: str) -> None:
    """A one-line error when `backend` cannot run `train.distribute: mode`, naming one that can."""
    if mode in DISTRIBUTE.get(backend, ("one_device",)):
        return
    if backend == "tensorflow" and mode == "multi_worker":
        raise BackendError("distribute: multi_worker does not train with Keras 3 on TensorFlow "
                           "(MultiWorkerMirroredStrategy fails in fit, keras-team/keras#20585); run it on JAX: "
                           "--backend jax --distribute multi_worker --coordinator HOST:PORT --num-processes N "
                           "--process-id I on every machine")
    able = [name for name in BACKENDS if mode in DISTRIBUTE[name]]
    raise BackendError(f"distribute: {mode} is not available on the {backend} backend; use "
                       f"{' or '.join('--backend ' + name for name in able)}")


def import_keras():
    """Import Keras on the chosen backend (quietly); returns the module.

    Raises `BackendError` when the backend is unknown or missing, or Keras
    already runs on another one in this process.
    """
    backend = require()
    if sys.modules.get("keras") is not None:
        return sys.modules["keras"]
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr():
        try:
            import keras
        except ImportError as exc:   # the backend's package is there but does not import
            raise BackendError(f"Keras could not start on {backend}: {exc}; reinstall it with: "
                               f"{INSTALL[backend]}, or choose another with --backend") from None
        if backend == "tensorflow":
            # the first op initialises the devices, which is when TensorFlow probes for CUDA. Not on JAX:
            # a multi-process run must call jax.distributed.initialize before its first computation.
            keras.ops.convert_to_tensor(0.0)
    return keras
