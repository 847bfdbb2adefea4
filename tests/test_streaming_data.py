"""Data larger than memory: a memory-mapped ``.npy`` or a dask array as ``X``.

A memory-mapped X stays in its file: minibatches are read from it (the
validation split as row indices, never copied), so a fit reads the same rows
in the same order as the in-memory fit and gives bit-identical parameters on
NumPy. A dask X is written once, block by block, to a temporary memory map
(each block computed once per fit, not once per epoch) and then trains the
same way. The resident pages of a map are released as it is read.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

import xpnet
from xpnet.backend import Backend, HostRows, release_host_pages

pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")

RNG = np.random.default_rng(7)
X_DATA = RNG.normal(size=(600, 6))
Y_CLASSES = (X_DATA[:, 0] + 0.5 * X_DATA[:, 1] > 0).astype(int) + (X_DATA[:, 2] > 1)
Y_VALUES = np.stack([np.sin(X_DATA[:, 0]), X_DATA[:, 1] * X_DATA[:, 2]], axis=1)


def _memmap(tmp_path, X, name="X.npy"):
    path = tmp_path / name
    np.save(path, X)
    return np.load(path, mmap_mode="r")


def _params(model):
    return [np.asarray(leaf) for pair in model.params_ for leaf in pair]


def _same(a, b):
    return all(np.array_equal(p, q) for p, q in zip(_params(a), _params(b), strict=True))


ESTIMATORS = {
    "classifier-sgd": (xpnet.MLPClassifier, Y_CLASSES, {"solver": "sgd", "momentum": 0.9}),
    "regressor-adam": (xpnet.MLPRegressor, Y_VALUES, {"solver": "adam"}),
}


@pytest.mark.parametrize("which", sorted(ESTIMATORS))
@pytest.mark.parametrize("early_stopping", [False, True], ids=["all-rows", "validation-split"])
def test_memory_mapped_fit_is_bit_identical_to_the_in_memory_fit(
    tmp_path, which, early_stopping, capsys
):
    cls, y, solver = ESTIMATORS[which]
    params = dict(
        hidden_layer_sizes=(8,), max_iter=4, batch_size=64, random_state=3, backend="numpy",
        dtype="float64", early_stopping=early_stopping, n_iter_no_change=100, **solver,
    )  # fmt: skip
    resident = cls(**params).fit(X_DATA, y)
    X_map = _memmap(tmp_path, X_DATA)
    mapped = cls(**params, verbose=True).fit(X_map, y)
    assert "memory-mapped: streaming minibatches" in capsys.readouterr().out
    assert _same(mapped, resident)
    assert mapped.loss_curve_ == resident.loss_curve_
    assert np.array_equal(mapped.predict(X_map), resident.predict(X_DATA))


def test_a_float64_map_trains_in_float32_like_the_same_data_in_memory(tmp_path):
    params = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0, backend="numpy")
    X_map = _memmap(tmp_path, X_DATA)
    mapped = xpnet.MLPClassifier(**params).fit(X_map, Y_CLASSES)
    resident = xpnet.MLPClassifier(**params).fit(X_DATA, Y_CLASSES)
    assert _params(mapped)[0].dtype == np.float32
    assert _same(mapped, resident)


def test_a_memory_mapped_fit_agrees_with_numpy_on_every_backend(tmp_path, backend, rel_err):
    """Streamed from the file to each backend: the NumPy float64 fit, to rounding."""
    params = dict(hidden_layer_sizes=(6,), max_iter=2, batch_size=100, random_state=1)
    want = xpnet.MLPClassifier(**params, backend="numpy", dtype="float64").fit(X_DATA, Y_CLASSES)
    X_map = _memmap(tmp_path, X_DATA)
    got = xpnet.MLPClassifier(**params, backend=backend.name, dtype="float64").fit(X_map, Y_CLASSES)
    for g, w in zip(_params(got), _params(want), strict=True):
        assert rel_err(g, w) < 1e-10


def test_rows_of_a_map_are_read_only_when_indexed(tmp_path):
    X_map = _memmap(tmp_path, X_DATA)
    rows = np.array([5, 2, 599, 0])
    view = HostRows(X_map, rows)
    assert view.shape == (4, 6) and len(view) == 4
    assert np.array_equal(view[1:3], X_DATA[[2, 599]])
    assert np.array_equal(view[np.array([3, 0])], X_DATA[[0, 5]])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_releasing_a_map_returns_its_pages(tmp_path):
    """Reading a 64 MiB map makes it resident; release_host_pages gives it back."""
    import os

    page = os.sysconf("SC_PAGE_SIZE")

    def resident_bytes():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    X_map = _memmap(tmp_path, np.ones((1 << 13, 1 << 10)), "big.npy")  # 64 MiB
    before = resident_bytes()
    assert float(X_map.sum()) == X_map.size  # every page read
    touched = resident_bytes()
    release_host_pages(X_map)
    released = resident_bytes()
    assert touched - before > 48 * 2**20
    assert touched - released > 48 * 2**20
    assert float(X_map[-1].sum()) == X_map.shape[1]  # still readable afterwards


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_a_shuffled_fit_keeps_the_resident_part_of_a_map_bounded(tmp_path, monkeypatch):
    """Checks, shuffled epochs, a validation split and predict: never the whole file resident.

    The resident size is read just before every release of the map's pages (the
    moments it peaks) and after every minibatch; with a 4 MiB budget, a 64 MiB
    file must never be more than a few MiB resident.
    """
    import os

    from xpnet import backend as backend_module
    from xpnet import train as train_module
    from xpnet.estimators import base as base_module

    page = os.sysconf("SC_PAGE_SIZE")
    peaks = []

    def resident_bytes():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page

    original = backend_module.release_host_pages

    def measured_release(x):
        peaks.append(resident_bytes())
        original(x)

    for module in (backend_module, train_module, base_module):
        monkeypatch.setattr(module, "release_host_pages", measured_release)
    monkeypatch.setattr(backend_module, "RELEASE_BUDGET_BYTES", 4 << 20)

    path = tmp_path / "wide.npy"
    rows, cols = 1 << 13, 1 << 10  # 64 MiB of float64, 8 KiB rows
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(rows, cols))
    for start in range(0, rows, 512):
        out[start : start + 512] = RNG.normal(size=(512, cols))
    del out
    y = RNG.integers(0, 2, size=rows)
    X_map = np.load(path, mmap_mode="r")
    release_host_pages(X_map)  # nothing of the file resident at the start
    kw = {"hidden_layer_sizes": (2,), "max_iter": 2, "batch_size": 256, "backend": "numpy"}
    xpnet.MLPClassifier(**kw).fit(X_DATA, Y_CLASSES)  # imports and caches warmed up
    before = resident_bytes()
    clf = xpnet.MLPClassifier(early_stopping=True, random_state=0, **kw)
    clf.fit(X_map, y, on_batch=lambda i, n: peaks.append(resident_bytes()))
    clf.predict(X_map)
    assert len(peaks) > 64  # releases and minibatches were both seen
    assert max(peaks) - before < 16 << 20  # a 64 MiB file, never more than 16 MiB resident


def test_rows_read_from_the_file_equal_numpy_indexing(tmp_path):
    from xpnet.backend import gather_rows

    data = RNG.normal(size=(97, 5)).astype(np.float32)
    X_map = _memmap(tmp_path, data)
    cases = [
        RNG.permutation(97),
        np.array([3, 3, -1, 0, 96]),  # repeats and a negative index
        np.array([], dtype=np.int64),
        slice(10, 60),
        slice(None, None, 7),
        slice(90, 200),
    ]
    for rows in cases:
        got = gather_rows(X_map, rows)
        assert type(got) is np.ndarray and got.dtype == data.dtype
        np.testing.assert_array_equal(got, data[rows])
    np.testing.assert_array_equal(gather_rows(X_map[5:], [0, 2]), data[5:][[0, 2]])  # a view
    with pytest.raises(IndexError):
        gather_rows(X_map, np.array([97]))


def test_a_map_streams_even_when_the_device_has_room(tmp_path, monkeypatch):
    monkeypatch.setattr(Backend, "free_memory", lambda self: 1 << 40)
    X_map = _memmap(tmp_path, X_DATA)
    clf = xpnet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, backend="numpy")
    assert clf._must_stream(xpnet.get_backend("numpy"), X_map)
    assert not clf._must_stream(xpnet.get_backend("numpy"), X_DATA)


# ------------------------------------------------------------------ dask


def _counting_dask(X, chunks):
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    computed = []

    def count(block):
        if block.shape[0]:  # dask also calls it on an empty block, to learn the output type
            computed.append(block.shape[0])
        return block

    lazy = da.from_array(X, chunks=chunks).map_blocks(count, dtype=X.dtype)
    return lazy, computed


def test_a_dask_fit_computes_each_block_once_and_equals_the_in_memory_fit():
    params = dict(
        hidden_layer_sizes=(7,), max_iter=5, batch_size=50, random_state=2, backend="numpy",
        dtype="float64", solver="adam", early_stopping=True, n_iter_no_change=100,
    )  # fmt: skip
    X_lazy, computed = _counting_dask(X_DATA, chunks=(128, 6))
    lazy = xpnet.MLPClassifier(**params).fit(X_lazy, Y_CLASSES)
    assert sorted(computed) == sorted([128] * 4 + [88])  # five blocks, once each, 5 epochs
    resident = xpnet.MLPClassifier(**params).fit(X_DATA, Y_CLASSES)
    assert _same(lazy, resident)
    assert lazy.n_iter_ == 5
    computed.clear()
    got = lazy.predict_proba(X_lazy)
    assert isinstance(got, np.ndarray)  # dask in, NumPy out
    assert np.array_equal(got, resident.predict_proba(X_DATA))
    assert len(computed) == 5


def test_a_dask_array_with_unknown_chunks_is_refused_with_the_fix():
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    X = da.from_array(X_DATA, chunks=(100, 6))
    unknown = X[da.from_array(X_DATA[:, 0] > -10, chunks=100)]  # boolean mask: sizes unknown
    with pytest.raises(ValueError, match=r"compute_chunk_sizes"):
        xpnet.MLPClassifier(max_iter=1).fit(unknown, Y_CLASSES)
