"""The training data's fingerprint: a resumed run refuses other data of the same shape.

* ``xpnet.io.data_fingerprint`` depends on the values the model trains on, not
  on where they live: a NumPy array, a Fortran-ordered copy, a memory map,
  float64 data trained in float32, and every backend's array of them agree;
* any changed value, row order, target or weight changes it; in full mode
  that is every value, checked one position at a time;
* beyond ``FINGERPRINT_FULL_BYTES`` only the documented sample of row blocks
  (the first, the last, evenly spaced between) is hashed: a change in a
  sampled block is caught, one between them is not (the documented limit);
* its extra memory stays at about one block, whatever the size of the data;
* ``fit(..., resume=True)`` refuses a checkpoint written for other values of
  the same shape with a ValueError naming the checkpoint and the fix; a
  checkpoint without a fingerprint (an earlier version's) resumes with a warning.
"""

from __future__ import annotations

import hashlib
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import io as xio
from xpnet.datasets import load_digits

rng = np.random.default_rng(0)
X = rng.standard_normal((300, 7)).astype(np.float32)
Y = rng.integers(0, 3, size=300)
W = rng.uniform(0.5, 2.0, size=300)


def fp(X_, y_=Y, w_=None, dtype="float32") -> str:
    return xio.data_fingerprint(X_, y_, w_, dtype=dtype)


# ------------------------------------------------------------------ the function


def test_the_digest_is_blake2b_of_the_documented_layout():
    """Small data is hashed in full: recomputed here from the documented rule."""
    h = hashlib.blake2b(digest_size=16)
    h.update(b"X (300, 7) <f4;y (300,) <i8;full;")
    # one block: 300 rows of 7 float32 + one int64 are far below 4 MiB
    h.update(X.astype("<f4").tobytes())
    h.update(Y.astype("<i8").tobytes())
    assert fp(X) == "blake2b:" + h.hexdigest()


def test_the_same_values_anywhere_have_one_fingerprint(backend, tmp_path):
    want = fp(X)
    assert fp(np.asfortranarray(X)) == want
    assert fp(X.astype(np.float64)) == want  # trained in float32: hashed as float32
    assert fp(X, Y.astype(np.int32)) == want  # class indices of any integer width
    mapped = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=X.dtype, shape=X.shape)
    mapped[:] = X
    mapped.flush()
    assert fp(np.load(tmp_path / "X.npy", mmap_mode="r")) == want
    assert fp(backend.xp.asarray(X, device=backend.device)) == want


def test_every_single_change_changes_it():
    seen = [fp(X)]
    for i, j in [(0, 0), (299, 6), (150, 3), (17, 5)]:
        changed = X.copy()
        changed[i, j] = np.nextafter(changed[i, j], np.float32(np.inf))  # one ulp
        seen.append(fp(changed))
    seen.append(fp(X[::-1].copy(), Y[::-1].copy()))  # the same rows in another order
    y2 = Y.copy()
    y2[42] = (y2[42] + 1) % 3
    seen.append(fp(X, y2))
    seen.append(fp(X, Y, W))
    w2 = W.copy()
    w2[-1] *= 2
    seen.append(fp(X, Y, w2))
    seen.append(fp(X, Y, np.ones(300)))  # weights of 1 are not "no weights"
    seen.append(fp(X.reshape(150, 14), Y[:150]))  # the same bytes in another shape
    seen.append(fp(X.astype(np.float64), dtype="float64"))  # trained in float64
    assert len(set(seen)) == len(seen) == 12, "two different data sets share a fingerprint"


def test_regression_targets_are_hashed_as_numbers():
    t = rng.standard_normal((300, 2))
    assert fp(X, t) == fp(X, t.astype(np.float64).copy(order="F"))
    t2 = t.copy()
    t2[5, 1] += 1e-12
    assert fp(X, t) != fp(X, t2)


def test_every_element_is_hashed_in_full_mode():
    X_small = rng.standard_normal((40, 5)).astype(np.float32)
    y_small = np.zeros(40, dtype=np.int64)
    want = fp(X_small, y_small)
    for flat in range(X_small.size):
        changed = X_small.copy()
        changed.flat[flat] += 1
        assert fp(changed, y_small) != want, f"element {flat} is not hashed"


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of 4 rows of 2 float32 + an int64 (16 bytes a row) and a 1 KiB full limit."""
    monkeypatch.setattr(xio, "_FINGERPRINT_BLOCK_BYTES", 64)
    monkeypatch.setattr(xio, "FINGERPRINT_FULL_BYTES", 1024)
    monkeypatch.setattr(xio, "FINGERPRINT_SAMPLED_BLOCKS", 5)


def test_large_data_hashes_the_documented_sample_of_blocks(tiny_blocks):
    n_blocks = 101  # 404 rows of 16 bytes: 6464 bytes, beyond the 1 KiB limit
    Xl = rng.standard_normal((4 * n_blocks, 2)).astype(np.float32)
    yl = np.zeros(4 * n_blocks, dtype=np.int64)
    want = fp(Xl, yl)
    sampled = {0, 25, 50, 75, 100}  # round(linspace(0, 100, 5)): first, last, evenly between
    for block in range(n_blocks):
        changed = Xl.copy()
        changed[4 * block + 1, 1] += 1.0
        assert (fp(changed, yl) != want) == (block in sampled), f"block {block}"
    yc = yl.copy()
    yc[4 * 50] = 1  # the targets are sampled with their rows
    assert fp(Xl, yc) != want
    assert fp(Xl[:-1], yl[:-1]) != fp(Xl, yl), "the shape is always hashed"


def test_small_data_under_the_limit_is_hashed_in_full(tiny_blocks):
    Xs = rng.standard_normal((64, 2)).astype(np.float32)  # 1024 bytes with the targets
    ys = np.zeros(64, dtype=np.int64)
    want = fp(Xs, ys)
    for row in range(64):
        changed = Xs.copy()
        changed[row, 0] -= 1.0
        assert fp(changed, ys) != want


def test_memory_stays_near_one_block(tmp_path):
    """A 48 MiB memory map is hashed in full with a few MiB of extra memory."""
    shape = (48 * 2**20 // (4 * 256), 256)
    mapped = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype="float32", shape=shape)
    mapped[::97] = 1.0
    mapped.flush()
    del mapped
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    y_big = np.zeros(shape[0], dtype=np.int64)
    tracemalloc.start()
    try:
        fp(X_map, y_big)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_targets_of_the_wrong_length_are_refused():
    with pytest.raises(ValueError, match="y: expected 300 rows"):
        fp(X, Y[:10])


# ------------------------------------------------------------------ resume


def _digits():
    Xd, yd = load_digits()
    return (Xd[:400] / 16.0).astype(np.float32), yd[:400]


XD, YD = _digits()


def _clf(max_iter: int, cls=xpnet.MLPClassifier):
    return cls(
        hidden_layer_sizes=(8,), batch_size=50, max_iter=max_iter, random_state=3, backend="numpy"
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fp") / "run.ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _clf(2).fit(XD, YD, checkpoint=path)
    return path


def _copy(path: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy.ckpt"
    copy.write_bytes(path.read_bytes())
    return copy


def test_the_checkpoint_holds_the_fingerprint_of_its_data(checkpoint):
    meta, _ = xio.read_archive(checkpoint, xio.CHECKPOINT_FORMAT)
    assert meta["data_fingerprint"] == fp(XD, YD)


@pytest.mark.parametrize(
    "what",
    ["one pixel", "rows swapped", "a label", "weights"],
)
def test_resuming_on_other_values_of_the_same_shape_is_refused(checkpoint, tmp_path, what):
    path = _copy(checkpoint, tmp_path)
    Xo, yo, w = XD.copy(), YD.copy(), None
    if what == "one pixel":
        Xo[123, 40] += 0.25
    elif what == "rows swapped":
        Xo[[0, 1]], yo[[0, 1]] = Xo[[1, 0]], yo[[1, 0]]
    elif what == "a label":
        yo[7] = (yo[7] + 1) % 10
    else:
        w = np.ones(400)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=r"copy\.ckpt.*other data.*new checkpoint path") as info:
        _clf(4).fit(Xo, yo, sample_weight=w, checkpoint=path, resume=True)
    assert "resume with the data it was trained on" in str(info.value)
    assert path.read_bytes() == before, "a refused resume must not touch the checkpoint"


def test_the_same_data_from_a_memory_map_resumes(checkpoint, tmp_path):
    path = _copy(checkpoint, tmp_path)
    np.save(tmp_path / "X.npy", XD.astype(np.float64))  # float64 on disk, trained in float32
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.exceptions.ConvergenceWarning)
        ran = []
        _clf(4).fit(
            mapped, YD, checkpoint=path, resume=True, on_epoch=lambda epoch, row: ran.append(epoch)
        )
    assert ran == [3, 4]  # it resumed after epoch 2


def test_a_regressor_refuses_other_targets(tmp_path):
    path = tmp_path / "reg.ckpt"
    t = XD[:, :3].sum(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _clf(1, xpnet.MLPRegressor).fit(XD, t, checkpoint=path)
    with pytest.raises(ValueError, match="other data"):
        _clf(2, xpnet.MLPRegressor).fit(XD, t + 1e-3, checkpoint=path, resume=True)
    # and with its own targets it resumes (a regressor's checkpoint holds no labels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = _clf(2, xpnet.MLPRegressor).fit(XD, t, checkpoint=path, resume=True)
        whole = _clf(2, xpnet.MLPRegressor).fit(XD, t)
    for (W, b), (Wr, br) in zip(resumed.params_, whole.params_, strict=True):
        assert np.array_equal(W, Wr) and np.array_equal(b, br)


def _rewrite_meta(path: Path, out: Path, **changes) -> Path:
    meta, arrays = xio.read_archive(path, xio.CHECKPOINT_FORMAT)
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    xio.write_archive(out, meta, arrays)
    return out


def test_a_checkpoint_without_a_fingerprint_resumes_with_a_warning(checkpoint, tmp_path):
    old = _rewrite_meta(checkpoint, tmp_path / "old.ckpt", data_fingerprint=None)
    with pytest.warns(UserWarning, match=r"old\.ckpt.*no data fingerprint.*earlier version"):
        ran = []
        _clf(3).fit(XD, YD, checkpoint=old, resume=True, on_epoch=lambda e, row: ran.append(e))
    assert ran == [3]
    meta, _ = xio.read_archive(old, xio.CHECKPOINT_FORMAT)
    assert meta["data_fingerprint"] == fp(XD, YD), "the next write adds it"


@pytest.mark.parametrize("bad", [3, "md5:00", "blake2b:" + "G" * 32, ["x"]])
def test_a_damaged_fingerprint_field_is_refused_naming_it(checkpoint, tmp_path, bad):
    damaged = _rewrite_meta(checkpoint, tmp_path / "bad.ckpt", data_fingerprint=bad)
    with pytest.raises(ValueError, match=r"bad\.ckpt.*'data_fingerprint'"):
        _clf(4).fit(XD, YD, checkpoint=damaged, resume=True)
