"""Importing Keras for the commands that need it, without TensorFlow's start-up noise.

TensorFlow's C++ side writes INFO lines (oneDNN, CUDA probing, CPU features)
straight to file descriptor 2 before any Python logging setting can reach it,
so a user running `builder build` on a laptop would see a screen of
"could not find cuda drivers". `quiet_stderr` sends fd 2 to a temporary file
while Keras starts, then replays every line that is not such a note.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile

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


def import_keras():
    """Import Keras (and its backend) quietly; returns the module."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with quiet_stderr():
        import keras
        # the first op initialises the devices, which is when TensorFlow probes for CUDA
        keras.ops.convert_to_tensor(0.0)
    return keras
