"""One line naming the machine a benchmark ran on, for every results file."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_line() -> str:
    import importlib.metadata as meta

    versions = []
    for package in ("keras", "tensorflow", "jax", "torch"):
        try:
            versions.append(f"{package} {meta.version(package)}")
        except meta.PackageNotFoundError:
            pass
    return (f"Machine: {os.cpu_count()} CPU cores ({cpu_model()}), Python {platform.python_version()}, "
            f"{', '.join(versions)}, backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}; "
            f"load average {os.getloadavg()[0]:.2f} when written (a shared machine's load slows every row alike "
            f"where the rows run round-robin).")
