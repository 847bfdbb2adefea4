"""What the numbers were measured on: the machine, the libraries' versions and threads, start-up times."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

#: Optional libraries ``import xpnet`` must not load (each costs start-up time).
HEAVY_MODULES = ("torch", "cupy", "jax", "sklearn", "matplotlib")


def blas_description() -> str:
    """NumPy's BLAS library, kernel and threads (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (install threadpoolctl to see the kernel)"
    found = []
    for info in threadpool_info():
        if info.get("user_api") != "blas" or "numpy" not in str(info.get("filepath", "")):
            continue
        arch = info.get("architecture") or info.get("corename") or "?"
        found.append(
            f"{info.get('internal_api')} {info.get('version')}, kernel {arch}, "
            f"{info.get('num_threads')} threads"
        )
    return "; ".join(found) or "unknown"


def environment_lines() -> list[str]:
    try:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        load = "n/a"
    lines = [
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load} (1/5/15 min); Python {platform.python_version()}",
        f"numpy {np.__version__}, BLAS {blas_description()}",
    ]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(
                f"note: {var}={os.environ[var]} is set: OpenBLAS may pick a slower kernel; "
                "to time, unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in that command"
            )
    return lines


def library_about(library: str) -> str:
    """Version and threading of a library, read from the imported module."""
    if library in ("numpy", "array_api_strict"):
        return f"numpy {np.__version__}, BLAS {blas_description()}"
    if library == "torch":
        import torch

        mkl = "MKL" if torch.backends.mkl.is_available() else "no MKL"
        return f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {mkl}"
    if library == "jax":
        import jax

        devices = jax.devices()
        return f"jax {jax.__version__}, {len(devices)} {devices[0].platform} device(s)"
    if library == "cupy":
        import cupy

        runtime = cupy.cuda.runtime.runtimeGetVersion()
        return f"cupy {cupy.__version__}, CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}"
    return library


def measure_startup(runs: int = 7) -> dict:
    """Whole-process seconds of ``python -c "import numpy"`` and ``"import xpnet"`` (medians).

    Also lists which of ``HEAVY_MODULES`` ``import xpnet`` loads (there should be none).
    Returns ``{"numpy": s, "xpnet": s, "runs": runs, "probed": HEAVY_MODULES, "heavy": [...]}``.
    """
    code = {"numpy": "import numpy", "xpnet": "import xpnet"}
    times: dict[str, list[float]] = {k: [] for k in code}
    for _ in range(runs):
        for key, stmt in code.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmt], check=True)
            times[key].append(time.perf_counter() - t0)
    probe = f"import sys, xpnet; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    heavy = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    return {
        "numpy": statistics.median(times["numpy"]),
        "xpnet": statistics.median(times["xpnet"]),
        "runs": runs,
        "probed": list(HEAVY_MODULES),
        "heavy": [m for m in heavy.split(",") if m],
    }


def startup_line(st: dict) -> str:
    """The start-up measurement, for the report."""
    heavy = ", ".join(st["heavy"]) or "none"
    return (
        f"start-up (whole process, median of {st['runs']}): 'import numpy' {st['numpy']:.3f} s, "
        f"'import xpnet' {st['xpnet']:.3f} s; optional libraries it loaded: {heavy}"
    )
