"""Shared fixtures and helpers for xpnet's tests.

Fixtures:
    backend: one ``xpnet.Backend`` per spec in ``BACKEND_SPECS`` ("numpy",
        "array_api_strict", "torch:cpu", "jax:cpu", "torch:cuda", "cupy",
        "jax:cuda"); a spec that is unusable here is skipped with the
        ``BackendUnavailableError`` message as the reason, never silently
        dropped. Set ``XPNET_TEST_BACKENDS`` to a comma-separated list of specs
        to run only those (the GPU script uses ``XPNET_TEST_BACKENDS=cupy,torch:cuda``).
    dtype: ``"float32"`` and ``"float64"``.
    jax_x64 (autouse): JAX's 64-bit mode for the duration of a JAX test: off
        where the test's ``dtype`` is float32 or it is marked ``x32`` (float32
        as JAX users get it), on otherwise (the many float64 comparisons
        against NumPy need it).
    to_np, rel_err: the helpers below, as fixtures.

Helpers (``from conftest import rel_err, to_np, RTOL``):
    to_np(x): any backend's array -> a fresh float-preserving NumPy copy.
    rel_err(a, b): normwise relative error ||a - b|| / ||b|| in float64 NumPy.
    RTOL: agreement tolerance with a float64 NumPy reference, per dtype.
"""

from __future__ import annotations

import os

# scikit-learn's array API checks need SciPy's array API mode, read when SciPy is imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import xpnet  # noqa: E402

#: Every backend spec the suite runs on, in the order the ids appear.
BACKEND_SPECS = (
    "numpy",
    "array_api_strict",
    "torch:cpu",
    "jax:cpu",
    "torch:cuda",
    "cupy",
    "jax:cuda",
)

#: Normwise relative error allowed against a float64 NumPy reference.
RTOL = {"float64": 1e-10, "float32": 1e-5}

DTYPES = ("float32", "float64")


def selected_backend_specs() -> tuple[str, ...]:
    """``BACKEND_SPECS``, or the specs listed in ``XPNET_TEST_BACKENDS`` when it is set."""
    env = os.environ.get("XPNET_TEST_BACKENDS", "").strip()
    if not env:
        return BACKEND_SPECS
    specs = tuple(s.strip() for s in env.split(",") if s.strip())
    if not specs:
        raise pytest.UsageError(f"XPNET_TEST_BACKENDS={env!r} names no backend")
    return specs


# Resolving an unusable backend re-probes it every time (only successes are
# cached by xpnet), which costs ~0.1 s for torch:cuda; resolve each spec once.
_RESOLVED: dict[str, xpnet.Backend | str] = {}


def resolve_backend(spec: str) -> xpnet.Backend:
    """``xpnet.get_backend(spec)``, or ``pytest.skip`` with the reason it is unusable."""
    if spec not in _RESOLVED:
        try:
            _RESOLVED[spec] = xpnet.get_backend(spec)
        except xpnet.BackendUnavailableError as e:
            _RESOLVED[spec] = str(e)
    found = _RESOLVED[spec]
    if isinstance(found, str):
        pytest.skip(f"backend {spec} unavailable: {found}")
    return found


@pytest.fixture(params=selected_backend_specs(), ids=str)
def backend(request) -> xpnet.Backend:
    """Each backend spec in turn; skipped with the reason where it cannot run."""
    return resolve_backend(request.param)


@pytest.fixture(autouse=True)
def jax_x64(request):
    """JAX's 64-bit mode on, in a scoped way, for the JAX tests that need float64."""
    params = getattr(request.node, "callspec", None)
    params = params.params if params is not None else {}
    if not any(isinstance(v, str) and v.startswith("jax") for v in params.values()):
        yield
        return
    wanted = params.get("dtype") != "float32" and request.node.get_closest_marker("x32") is None
    import jax

    with jax.enable_x64(bool(wanted)):
        yield


@pytest.fixture(params=DTYPES, ids=str)
def dtype(request) -> str:
    """``"float32"`` and ``"float64"``."""
    return request.param


def to_np(x) -> np.ndarray:
    """A NumPy copy of any backend's array (never a view of the original)."""
    return np.array(xpnet.to_numpy(x), copy=True)


def rel_err(a, b) -> float:
    """Normwise relative error ||a - b|| / ||b|| in float64 NumPy (absolute if ||b|| = 0)."""
    a64 = np.asarray(to_np(a), dtype=np.float64)
    b64 = np.asarray(to_np(b), dtype=np.float64)
    if a64.shape != b64.shape:
        raise AssertionError(f"shape mismatch: {a64.shape} vs {b64.shape}")
    diff = float(np.linalg.norm((a64 - b64).ravel()))
    scale = float(np.linalg.norm(b64.ravel()))
    return diff / scale if scale > 0 else diff


def assert_rel_close(actual, desired, tol: float, what: str = "") -> None:
    """Assert ``rel_err(actual, desired) < tol`` with a readable message."""
    err = rel_err(actual, desired)
    assert err < tol, f"{what}: normwise relative error {err:.3e} >= {tol:.1e}"


@pytest.fixture(name="to_np")
def to_np_fixture():
    """The ``to_np`` helper as a fixture."""
    return to_np


@pytest.fixture(name="rel_err")
def rel_err_fixture():
    """The ``rel_err`` helper as a fixture."""
    return rel_err


# ----------------------------------------------------------------------------- files and imports

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_width: int = 300, min_height: int | None = None, min_bytes: int = 10_000):
    """``path`` is a complete PNG (signature, IHDR first, IEND last) of a reasonable size."""
    import struct
    from pathlib import Path

    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path}: not a PNG"
    assert data[12:16] == b"IHDR", f"{path}: IHDR is not the first chunk"
    width, height = struct.unpack(">II", data[16:24])
    min_height = min_width if min_height is None else min_height
    assert width >= min_width and height >= min_height, f"{path}: only {width}x{height} pixels"
    assert data[-8:-4] == b"IEND", f"{path}: truncated"
    assert min_bytes <= len(data) <= 20_000_000, f"{path}: {len(data)} bytes"


def hide_matplotlib(monkeypatch) -> None:
    """Make every ``import matplotlib...`` fail, as if it were not installed (even if loaded)."""
    import sys

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
