"""Backend resolution: specs, fallbacks, unusable backends, host data in and out."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap

import array_api_compat
import numpy as np
import pytest
from conftest import to_np

import xpnet
from xpnet import backend as backend_module


def _cuda_usable_by_cupy() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def _cuda_usable_by_torch() -> bool:
    try:
        import torch

        return torch.cuda.is_available() and torch.cuda.device_count() > 0
    except Exception:
        return False


def _any_gpu() -> bool:
    return _cuda_usable_by_cupy() or _cuda_usable_by_torch()


# ----------------------------------------------------------------------------- names


def test_numpy_by_name():
    for spec in ("numpy", "np", " NumPy ", "numpy:cpu"):
        b = xpnet.get_backend(spec)
        assert b.name == "numpy" and b.library == "numpy" and b.device == "cpu"
        assert b.xp is array_api_compat.numpy
        assert not b.is_gpu


def test_array_api_strict_by_name():
    strict = pytest.importorskip("array_api_strict")
    b = xpnet.get_backend("array_api_strict")
    assert b.name == "array_api_strict" and b.xp is strict
    assert b.device == strict.asarray(0).device


def test_torch_cpu_by_name():
    torch = pytest.importorskip("torch")
    b = xpnet.get_backend("torch:cpu")
    assert b.name == "torch:cpu" and b.library == "torch"
    assert b.device == torch.device("cpu")
    assert b.xp is array_api_compat.torch


def test_torch_picks_cuda_when_it_can_else_cpu_with_a_note():
    pytest.importorskip("torch")
    b = xpnet.get_backend("torch")
    if _cuda_usable_by_torch():
        assert b.name == "torch:cuda:0" and b.is_gpu
    else:
        assert b.name == "torch:cpu" and not b.is_gpu
        assert "torch:cuda" in b.note  # why CUDA was passed over


def test_backend_passes_through():
    b = xpnet.get_backend("numpy")
    assert xpnet.get_backend(b) is b


@pytest.mark.parametrize(
    "spec",
    ["tensorflow", "jax:tpu", "", "numpy:cuda", "torch:tpu", "cupy:x", "cupy:-1", "torch:cuda:y"],
)
def test_unknown_or_malformed_spec_is_a_value_error(spec):
    with pytest.raises(ValueError, match="backend"):
        xpnet.get_backend(spec)


def test_array_api_strict_refuses_a_device_it_does_not_have():
    pytest.importorskip("array_api_strict")
    with pytest.raises(ValueError, match="array_api_strict"):
        xpnet.get_backend("array_api_strict:cpu")


@pytest.mark.parametrize("spec", [3, 2.5, object(), [1.0]])
def test_a_spec_of_the_wrong_type_is_a_type_error(spec):
    with pytest.raises(TypeError, match="backend"):
        xpnet.get_backend(spec)


# ----------------------------------------------------------------------------- modules and arrays


def test_numpy_module_and_array():
    assert xpnet.get_backend(np).name == "numpy"
    assert xpnet.get_backend(array_api_compat.numpy).name == "numpy"
    assert xpnet.get_backend(np.zeros(3)).name == "numpy"
    assert xpnet.get_backend(np.zeros((2, 2), dtype=np.float32)).xp is array_api_compat.numpy


def test_array_api_strict_module_and_array():
    strict = pytest.importorskip("array_api_strict")
    assert xpnet.get_backend(strict).name == "array_api_strict"
    assert xpnet.get_backend(strict.asarray([1.0, 2.0])).name == "array_api_strict"


def test_torch_module_and_array():
    torch = pytest.importorskip("torch")
    expected = "torch:cuda:0" if _cuda_usable_by_torch() else "torch:cpu"
    assert xpnet.get_backend(torch).name == expected
    assert xpnet.get_backend(array_api_compat.torch).name == expected
    assert xpnet.get_backend(torch.zeros(3)).name == "torch:cpu"  # the array's own device
    assert xpnet.get_backend(torch.zeros(3, dtype=torch.float64)).device == torch.device("cpu")


def test_cupy_array_when_a_gpu_is_usable():
    if not _cuda_usable_by_cupy():
        pytest.skip("no CUDA device usable by CuPy here")
    import cupy

    assert xpnet.get_backend(cupy.zeros(3)).name == "cupy:0"


# ----------------------------------------------------------------------------- unusable backends


def test_cupy_without_a_driver_says_why():
    cupy = pytest.importorskip("cupy")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # the driver's own reason
        reason = str(e)
    else:
        if count > 0:
            pytest.skip("a CUDA device is usable here: nothing to report")
        reason = "no CUDA device"
    with pytest.raises(xpnet.BackendUnavailableError) as info:
        xpnet.get_backend("cupy")
    message = str(info.value)
    assert reason in message
    assert message.startswith("cupy")
    assert isinstance(info.value, RuntimeError)
    # available_backends reports the same reason instead of raising
    assert xpnet.available_backends()["cupy"] == message


def test_available_backends_reports_true_or_a_reason():
    table = xpnet.available_backends()
    assert set(table) == {
        "numpy",
        "cupy",
        "torch:cpu",
        "torch:cuda",
        "jax:cpu",
        "jax:gpu",
        "array_api_strict",
    }
    assert table["numpy"] is True
    for name, status in table.items():
        assert status is True or (isinstance(status, str) and status), name
    if importlib.util.find_spec("torch") is not None:
        assert table["torch:cpu"] is True
    if not _cuda_usable_by_cupy():
        assert isinstance(table["cupy"], str) and "cupy" in table["cupy"]
    if not _cuda_usable_by_torch():
        assert isinstance(table["torch:cuda"], str) and "torch:cuda" in table["torch:cuda"]


def test_missing_torch_says_how_to_install(monkeypatch):
    backend_module._torch_backend.cache_clear()
    try:
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, "torch", None)  # `import torch` now fails
            for spec in ("torch:cpu", "torch", "torch:cuda"):
                with pytest.raises(xpnet.BackendUnavailableError, match="pip install") as info:
                    xpnet.get_backend(spec)
                assert "torch" in str(info.value)
            status = xpnet.available_backends()["torch:cpu"]
            assert isinstance(status, str) and "pip install" in status
    finally:
        backend_module._torch_backend.cache_clear()
    if importlib.util.find_spec("torch") is not None:  # back to normal afterwards
        assert xpnet.get_backend("torch:cpu").name == "torch:cpu"


def test_missing_cupy_says_how_to_install(monkeypatch):
    backend_module._cupy_backend.cache_clear()
    try:
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, "cupy", None)  # `import cupy` now fails
            with pytest.raises(xpnet.BackendUnavailableError, match="pip install") as info:
                xpnet.get_backend("cupy")
            assert "cuda12" in str(info.value)  # names the extra to install
            monkeypatch.delenv("XPNET_BACKEND", raising=False)
            # as on a machine with a driver, so that auto probes the libraries
            patch.setattr(backend_module, "nvidia_driver_present", lambda: True)
            if not _cuda_usable_by_torch():  # auto falls back to numpy, saying why
                b = xpnet.get_backend("auto")
                assert b.name == "numpy" and "cupy: not importable" in b.note
    finally:
        backend_module._cupy_backend.cache_clear()


# ----------------------------------------------------------------------------- auto


def test_auto_is_numpy_without_a_gpu_and_says_why(monkeypatch):
    if _any_gpu():
        pytest.skip("a CUDA device is usable here, so auto picks it")
    monkeypatch.delenv("XPNET_BACKEND", raising=False)
    # as on a machine with a driver but no usable device: every library is probed
    monkeypatch.setattr(backend_module, "nvidia_driver_present", lambda: True)
    for spec in ("auto", None, "AUTO"):
        b = xpnet.get_backend(spec)
        assert b.name == "numpy"
        assert "no usable GPU backend" in b.note
        assert "cupy" in b.note and "torch" in b.note and "jax" in b.note
    if importlib.util.find_spec("cupy") is not None:
        assert xpnet.available_backends()["cupy"] in xpnet.get_backend("auto").note


def test_auto_without_a_driver_imports_no_gpu_library():
    if backend_module.nvidia_driver_present():
        pytest.skip("this machine has an NVIDIA driver")
    code = (
        "import sys, xpnet; b = xpnet.get_backend('auto'); "
        "print(b.name, [m for m in ('cupy', 'torch', 'jax') if m in sys.modules]); print(b.note)"
    )
    env = {k: v for k, v in os.environ.items() if k != "XPNET_BACKEND"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env
    )
    assert out.returncode == 0, out.stderr
    first, note = out.stdout.splitlines()[:2]
    assert first == "numpy []"
    assert "no NVIDIA driver" in note


def test_auto_picks_the_gpu_when_there_is_one(monkeypatch):
    if not _any_gpu():
        pytest.skip("no CUDA device here")
    monkeypatch.delenv("XPNET_BACKEND", raising=False)
    b = xpnet.get_backend("auto")
    assert b.is_gpu
    assert b.name == ("cupy:0" if _cuda_usable_by_cupy() else "torch:cuda:0")


def test_xpnet_backend_variable_overrides_auto(monkeypatch):
    pytest.importorskip("torch")
    monkeypatch.setenv("XPNET_BACKEND", "torch:cpu")
    b = xpnet.get_backend("auto")
    assert b.name == "torch:cpu"
    assert "XPNET_BACKEND=torch:cpu" in b.note
    assert xpnet.get_backend("numpy").name == "numpy"  # only auto reads it
    monkeypatch.setenv("XPNET_BACKEND", "numpy")
    assert xpnet.get_backend().name == "numpy"
    monkeypatch.setenv("XPNET_BACKEND", "no-such-library")
    with pytest.raises(ValueError, match="no-such-library"):
        xpnet.get_backend("auto")


# ----------------------------------------------------------------------------- host data in and out


@pytest.mark.parametrize(
    "host",
    [
        np.asarray([[1.5, -2.25], [3.0, 1e-8]]),
        np.asarray([[1.5, -2.25], [3.0, 1e-8]], dtype=np.float32),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.asarray(2.5),  # 0-d
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    ],
    ids=["float64", "float32", "int64", "0-d", "fortran-order"],
)
def test_to_numpy_round_trips(backend, host):
    x = backend.asarray(host)
    assert tuple(x.shape) == host.shape
    assert array_api_compat.array_namespace(x) is not None
    back = xpnet.to_numpy(x)
    assert isinstance(back, np.ndarray)
    assert back.dtype == host.dtype
    np.testing.assert_array_equal(back, host)


def test_asarray_converts_dtype_and_keeps_arrays_already_there(backend, dtype):
    host = np.asarray([0.1, 0.2, 0.3])
    x = backend.asarray(host, dtype)
    assert x.dtype == backend.dtype(dtype) == getattr(backend.xp, dtype)
    np.testing.assert_array_equal(to_np(x), host.astype(dtype))
    assert backend.asarray(x) is x  # already here: no copy
    assert backend.asarray(x, dtype) is x
    with pytest.raises(ValueError, match="dtype"):
        backend.dtype("float33")


def test_to_numpy_of_scalars_and_lists():
    assert xpnet.to_numpy(1.5) == 1.5
    np.testing.assert_array_equal(xpnet.to_numpy([1, 2, 3]), [1, 2, 3])


def test_arrays_move_between_backends(backend):
    numpy_backend = xpnet.get_backend("numpy")
    host = np.linspace(-1.0, 1.0, 5)
    here = backend.asarray(numpy_backend.asarray(host, "float64"), "float64")
    there = numpy_backend.asarray(here)
    np.testing.assert_array_equal(there, host)


def test_host_rng_gives_identical_numbers_on_every_backend(backend, dtype):
    draws = backend_module.host_rng(1234).standard_normal((4, 3))
    again = backend_module.host_rng(1234).standard_normal((4, 3))
    np.testing.assert_array_equal(draws, again)
    on_device = backend.asarray(draws, dtype)
    np.testing.assert_array_equal(to_np(on_device), draws.astype(dtype))


def test_host_rng_accepts_a_generator_and_rejects_other_seeds():
    rng = np.random.default_rng(0)
    assert backend_module.host_rng(rng) is rng
    assert isinstance(backend_module.host_rng(None), np.random.Generator)
    assert isinstance(backend_module.host_rng(np.int64(3)), np.random.Generator)
    with pytest.raises(TypeError, match="seed"):
        backend_module.host_rng("42")


def test_sync_and_describe_work_on_every_backend(backend):
    backend.sync()  # a no-op on the CPU, a barrier on a GPU
    assert backend.name in backend.describe()


# ----------------------------------------------------------------------------- import cost


def test_importing_xpnet_imports_no_optional_backend():
    code = textwrap.dedent(
        """
        import sys
        import xpnet
        heavy = [
            m for m in ("torch", "cupy", "jax", "sklearn", "matplotlib", "mpi4py", "ndonnx")
            if m in sys.modules
        ]
        print(",".join(heavy))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "", f"import xpnet imported: {out.stdout.strip()}"
