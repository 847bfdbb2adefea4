"""xpnet.datasets: embedded digits, generated moons, splitting, IDX / npz / csv loaders.

References are independent of the code under test: scikit-learn's copy of the
digits, the closed form of the two moons, and the bytes each test writes.
"""

import csv
import gzip
import math
import os
import re
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from xpnet import datasets
from xpnet.io import MissingFileError, ReadLimitError, ReadLimits

# ---------------------------------------------------------------- digits

DIGITS_CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_shapes_dtypes_and_pixel_range():
    X, y = datasets.load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert np.array_equal(X, np.round(X))
    assert set(np.unique(y).tolist()) == set(range(10))


def test_digits_class_counts_are_the_real_ones():
    _, y = datasets.load_digits()
    counts = np.bincount(y, minlength=10)
    assert all(170 <= c <= 190 for c in counts)
    assert counts.tolist() == DIGITS_CLASS_COUNTS


def test_digits_equal_scikit_learns_copy():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    X_ref, y_ref = sk_datasets.load_digits(return_X_y=True)
    X, y = datasets.load_digits()
    np.testing.assert_array_equal(X, X_ref)
    np.testing.assert_array_equal(y, y_ref)


def test_digits_are_fresh_arrays_each_call():
    X, _ = datasets.load_digits()
    X[:] = -1
    assert datasets.load_digits()[0].min() == 0


def test_loaders_import_no_heavy_library():
    code = (
        "import sys, xpnet.datasets as d; d.load_digits(); d.make_moons(seed=0);"
        "heavy = [m for m in ('sklearn', 'torch', 'cupy', 'matplotlib', 'pandas')"
        " if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------- moons


def test_noise_free_moons_lie_on_their_half_circles():
    X, y = datasets.make_moons(n_samples=101, noise=0.0, seed=0)
    upper, lower = X[y == 0], X[y == 1]
    # upper moon: the unit circle about (0, 0), y >= 0
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, rtol=0, atol=1e-12)
    assert (upper[:, 1] >= -1e-12).all()
    # lower moon: the unit circle about (1, 0.5), y <= 0.5
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-12)
    assert (lower[:, 1] <= 0.5 + 1e-12).all()
    # angles evenly spaced over [0, pi], both ends included
    angle_upper = np.sort(np.arctan2(upper[:, 1], upper[:, 0]))
    angle_lower = np.sort(np.arctan2(0.5 - lower[:, 1], 1 - lower[:, 0]))
    np.testing.assert_allclose(angle_upper, np.linspace(0, np.pi, 50), atol=1e-12)
    np.testing.assert_allclose(angle_lower, np.linspace(0, np.pi, 51), atol=1e-12)


def test_noise_free_moons_match_scikit_learn_as_a_set():
    sk_datasets = pytest.importorskip("sklearn.datasets")
    X_ref, y_ref = sk_datasets.make_moons(n_samples=60, noise=0.0, shuffle=False)
    X, y = datasets.make_moons(n_samples=60, noise=0.0, seed=3)
    for label in (0, 1):
        ours, ref = X[y == label], X_ref[y_ref == label]
        np.testing.assert_allclose(ours[np.lexsort(ours.T)], ref[np.lexsort(ref.T)], atol=1e-12)


def test_moon_noise_has_the_requested_spread():
    noise = 0.01
    X, y = datasets.make_moons(n_samples=4000, noise=noise, seed=1)
    upper = X[y == 0]
    radial_error = np.hypot(upper[:, 0], upper[:, 1]) - 1.0
    assert abs(radial_error.mean()) < 0.1 * noise
    assert radial_error.std() == pytest.approx(noise, rel=0.1)


@pytest.mark.parametrize("n_samples", [2, 7, 200])
def test_moons_shapes_dtypes_and_balanced_classes(n_samples):
    X, y = datasets.make_moons(n_samples=n_samples, seed=0)
    assert X.shape == (n_samples, 2) and X.dtype == np.float64
    assert y.shape == (n_samples,) and y.dtype == np.int64
    assert np.bincount(y).tolist() == [n_samples // 2, n_samples - n_samples // 2]


def test_moons_are_shuffled():
    _, y = datasets.make_moons(n_samples=200, seed=0)
    assert not (np.diff(y) >= 0).all()


def test_moons_are_determined_by_the_seed():
    X1, y1 = datasets.make_moons(seed=42)
    X2, y2 = datasets.make_moons(seed=42)
    X3, _ = datasets.make_moons(seed=43)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_samples": 1}, "n_samples"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_samples": 10.0}, "n_samples"),
        ({"n_samples": True}, "n_samples"),
        ({"noise": -0.1}, "noise"),
        ({"noise": math.nan}, "noise"),
        ({"noise": math.inf}, "noise"),
        ({"noise": "0.1"}, "noise"),
    ],
)
def test_make_moons_rejects_bad_arguments_by_name(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        datasets.make_moons(**kwargs)


# ---------------------------------------------------------------- train_test_split


def _ids_split(n, **kwargs):
    """Split X = ids 0..n-1 (as a column) with y = 10 * id, so rows can be traced."""
    ids = np.arange(n)
    return datasets.train_test_split(ids[:, None], 10 * ids, **kwargs)


@pytest.mark.parametrize(
    ("n", "test_size", "n_test"),
    [(100, 0.25, 25), (30, 0.1, 3), (10, 0.15, 2), (10, 3, 3), (7, 0.999, 6), (7, 0.001, 1)],
)
def test_split_sizes(n, test_size, n_test):
    X_train, X_test, y_train, y_test = _ids_split(n, test_size=test_size, seed=0)
    assert X_test.shape == (n_test, 1) and y_test.shape == (n_test,)
    assert X_train.shape == (n - n_test, 1) and y_train.shape == (n - n_test,)


@pytest.mark.parametrize("stratify", [False, True])
def test_split_is_a_disjoint_complete_partition_with_rows_kept_together(stratify):
    n = 50
    ids = np.arange(n)
    X = np.stack([ids, -ids], axis=1)
    y = ids % 3
    X_train, X_test, y_train, y_test = datasets.train_test_split(
        X, y, test_size=0.3, seed=1, stratify=stratify
    )
    train_ids, test_ids = X_train[:, 0], X_test[:, 0]
    assert not set(train_ids) & set(test_ids)
    assert sorted(np.concatenate([train_ids, test_ids]).tolist()) == ids.tolist()
    np.testing.assert_array_equal(X_train[:, 1], -train_ids)
    np.testing.assert_array_equal(y_train, train_ids % 3)
    np.testing.assert_array_equal(y_test, test_ids % 3)


def test_split_keeps_trailing_dimensions():
    X = np.arange(10 * 2 * 3).reshape(10, 2, 3)
    X_train, X_test, _, _ = datasets.train_test_split(X, np.arange(10), test_size=4, seed=0)
    assert X_train.shape == (6, 2, 3) and X_test.shape == (4, 2, 3)


@pytest.mark.parametrize("test_size", [0.3, 0.5, 0.1, 17])
def test_stratified_split_keeps_each_class_within_one_sample_of_its_share(test_size):
    class_sizes = {"a": 50, "b": 30, "c": 7, "d": 13, "e": 2}
    y = np.repeat(list(class_sizes), list(class_sizes.values()))
    n = y.size
    X = np.arange(n)[:, None]
    _, _, y_train, y_test = datasets.train_test_split(
        X, y, test_size=test_size, seed=5, stratify=True
    )
    n_test = test_size if isinstance(test_size, int) else math.ceil(test_size * n)
    assert y_test.size == n_test
    for label, size in class_sizes.items():
        share = size * n_test / n
        in_test = int((y_test == label).sum())
        assert abs(in_test - share) < 1, (label, in_test, share)
        assert in_test + int((y_train == label).sum()) == size


def test_split_is_determined_by_the_seed():
    first = _ids_split(40, seed=7, stratify=False)
    again = _ids_split(40, seed=7, stratify=False)
    other = _ids_split(40, seed=8, stratify=False)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize(
    ("X", "y", "kwargs", "name"),
    [
        (np.zeros((5, 2)), np.zeros(4), {}, "y"),
        (np.zeros((5, 2)), np.zeros((5, 1)), {}, "y"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 0.0}, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 1.0}, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": -0.2}, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 0}, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": 5}, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": True}, "test_size"),
        (np.zeros((5, 2)), np.zeros(5), {"test_size": "0.2"}, "test_size"),
        (np.zeros((1, 2)), np.zeros(1), {}, "X"),
        (np.zeros((5, 2)), np.array([0, 0, 1, 1, 2]), {"stratify": True}, "stratify"),
    ],
)
def test_split_rejects_bad_input_by_name(X, y, kwargs, name):
    with pytest.raises(ValueError, match=name):
        datasets.train_test_split(X, y, **kwargs)


# ---------------------------------------------------------------- IDX files and MNIST

IDX_TYPES = {  # type code -> big-endian dtype, written here independently of the module
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def idx_bytes(array, type_code=0x08):
    """The IDX encoding of ``array``: 00 00 type ndim, uint32 dims, big-endian values."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, type_code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(IDX_TYPES[type_code]).tobytes()


def write(path, payload, gz=False):
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


@pytest.mark.parametrize("type_code", sorted(IDX_TYPES))
def test_idx_round_trip_for_every_type(tmp_path, type_code):
    rng = np.random.default_rng(type_code)
    values = rng.integers(0, 100, size=(3, 4, 5))
    if type_code != 0x08:
        values = values - 50  # signed types get negative values too
    expected = values.astype(IDX_TYPES[type_code])
    path = write(tmp_path / "data.idx", idx_bytes(values, type_code))
    loaded = datasets.load_idx(path)
    assert loaded.shape == (3, 4, 5)
    assert loaded.dtype == expected.dtype.newbyteorder("=")
    assert loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize("shape", [(6,), (2, 3), (2, 3, 4), (1, 2, 3, 2)])
def test_idx_any_number_of_dimensions_from_one_to_four(tmp_path, shape):
    values = np.arange(math.prod(shape)).reshape(shape) % 256
    path = write(tmp_path / "data.idx", idx_bytes(values))
    np.testing.assert_array_equal(datasets.load_idx(path), values)


@pytest.mark.parametrize("name", ["data.idx.gz", "data.idx"])
def test_idx_gzipped_by_name_or_by_magic_bytes(tmp_path, name):
    values = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    path = write(tmp_path / name, idx_bytes(values), gz=True)
    np.testing.assert_array_equal(datasets.load_idx(path), values)


def test_idx_truncated_data_names_the_file_and_both_sizes(tmp_path):
    path = write(tmp_path / "short.idx", idx_bytes(np.zeros((2, 3, 4)))[:-5])
    with pytest.raises(ValueError, match=r"short\.idx.*truncated.*24.*19"):
        datasets.load_idx(path)


def test_idx_trailing_bytes_name_the_file_and_both_sizes(tmp_path):
    path = write(tmp_path / "long.idx", idx_bytes(np.zeros((2, 3))) + b"\x00\x00", gz=True)
    with pytest.raises(ValueError, match=r"long\.idx.*trailing.*6.*8"):
        datasets.load_idx(path)


@pytest.mark.parametrize(
    "content",
    [
        b"\x01\x00\x08\x01\x00\x00\x00\x01\x07",  # first byte not zero
        b"\x00\x01\x08\x01\x00\x00\x00\x01\x07",  # second byte not zero
        b"\x00\x00\x0a\x01\x00\x00\x00\x01\x07",  # unknown type code 0x0A
        b"\x00\x00\x08\x00\x07",  # zero dimensions
        b"\x00\x00\x08\x05" + b"\x00\x00\x00\x01" * 5 + b"\x07",  # five dimensions
        b"\x00\x00",  # too short for the magic number
        b"\x00\x00\x08\x02\x00\x00\x00\x01",  # two dimensions declared, one given
    ],
)
def test_idx_bad_header_is_rejected_naming_the_file(tmp_path, content):
    path = write(tmp_path / "bad.idx", content)
    with pytest.raises(ValueError, match=r"bad\.idx"):
        datasets.load_idx(path)


def test_idx_corrupt_gzip_names_the_file(tmp_path):
    path = write(tmp_path / "broken.idx.gz", gzip.compress(idx_bytes(np.zeros(50)))[:-10])
    with pytest.raises(ValueError, match=r"broken\.idx\.gz"):
        datasets.load_idx(path)


def write_mnist(directory, kind, images, labels, gz=False, dotted=False):
    """Write one MNIST pair of files (images idx3, labels idx1) into ``directory``."""
    prefix = {"train": "train", "test": "t10k"}[kind]
    sep = "." if dotted else "-"
    suffix = ".gz" if gz else ""
    write(directory / f"{prefix}-images{sep}idx3-ubyte{suffix}", idx_bytes(images), gz=gz)
    write(directory / f"{prefix}-labels{sep}idx1-ubyte{suffix}", idx_bytes(labels), gz=gz)


def tiny_mnist(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28)), rng.integers(0, 10, size=n)


@pytest.mark.parametrize(("gz", "dotted"), [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("kind", ["train", "test"])
def test_mnist_loads_the_arrays_written(tmp_path, kind, gz, dotted):
    images, labels = tiny_mnist(5)
    write_mnist(tmp_path, kind, images, labels, gz=gz, dotted=dotted)
    X, y = datasets.load_mnist(tmp_path, kind=kind)
    assert X.shape == (5, 784) and X.dtype == np.float64
    assert y.shape == (5,) and y.dtype == np.int64
    np.testing.assert_array_equal(X, images.reshape(5, 784))
    np.testing.assert_array_equal(y, labels)


def test_mnist_dir_loads_both_sets(tmp_path):
    train_images, train_labels = tiny_mnist(6, seed=1)
    test_images, test_labels = tiny_mnist(3, seed=2)
    write_mnist(tmp_path, "train", train_images, train_labels)
    write_mnist(tmp_path, "test", test_images, test_labels, gz=True)
    X_train, y_train, X_test, y_test = datasets.load_mnist_dir(str(tmp_path))
    np.testing.assert_array_equal(X_train, train_images.reshape(6, -1))
    np.testing.assert_array_equal(y_train, train_labels)
    np.testing.assert_array_equal(X_test, test_images.reshape(3, -1))
    np.testing.assert_array_equal(y_test, test_labels)


def test_mnist_mismatched_counts_name_the_files(tmp_path):
    images, labels = tiny_mnist(4)
    write_mnist(tmp_path, "train", images, labels[:3])
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*3 labels.*4 images"):
        datasets.load_mnist(tmp_path)


def test_mnist_labels_out_of_range_name_the_file(tmp_path):
    images, labels = tiny_mnist(4)
    labels[2] = 10
    write_mnist(tmp_path, "train", images, labels)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*0\.\.9.*label 2 is 10"):
        datasets.load_mnist(tmp_path)


def test_mnist_images_must_be_three_dimensional(tmp_path):
    images, labels = tiny_mnist(4)
    write_mnist(tmp_path, "test", images.reshape(4, 784), labels)
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.*3-D"):
        datasets.load_mnist(tmp_path, kind="test")


def test_mnist_data_must_be_unsigned_bytes(tmp_path):
    images, labels = tiny_mnist(2)
    write_mnist(tmp_path, "train", images, labels)
    write(tmp_path / "train-labels-idx1-ubyte", idx_bytes(labels, type_code=0x0C))
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte.*0x08"):
        datasets.load_mnist(tmp_path)


def test_mnist_missing_file_names_the_expected_names(tmp_path):
    images, labels = tiny_mnist(2)
    write_mnist(tmp_path, "train", images, labels)
    (tmp_path / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"train-labels-idx1-ubyte.*train-labels\.idx1"):
        datasets.load_mnist(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte"):
        datasets.load_mnist(tmp_path, kind="test")


def test_mnist_rejects_an_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        datasets.load_mnist(tmp_path, kind="validation")


# ---------------------------------------------------------------- IDX: checked before read


def gzip_bomb(path, header, zero_bytes):
    """A gzipped IDX file: ``header``, then ``zero_bytes`` zeros, compressed in pieces."""
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb") as stream:
        stream.write(header)
        piece = bytes(2**20)
        for start in range(0, zero_bytes, len(piece)):
            stream.write(piece[: min(len(piece), zero_bytes - start)])
    return path


def idx_header(shape, type_code=0x08):
    return struct.pack(">BBBB", 0, 0, type_code, len(shape)) + struct.pack(
        f">{len(shape)}I", *shape
    )


def peak_bytes(function, *args, **kwargs):
    """Run ``function``; return (the exception it raised, the peak of traced allocations)."""
    tracemalloc.start()
    try:
        function(*args, **kwargs)
    except ValueError as error:
        raised = error
    else:
        raised = None
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return raised, peak


def test_a_gzip_bomb_declaring_more_than_the_limit_is_refused_from_its_header(tmp_path):
    # 64 MB of zeros behind a header declaring 4 GB: nothing past the header is inflated
    path = gzip_bomb(tmp_path / "bomb-idx3-ubyte.gz", idx_header((5_000_000, 28, 28)), 64 * 2**20)
    error, peak = peak_bytes(datasets.load_idx, path)
    assert isinstance(error, ReadLimitError), error
    assert re.search(r"bomb-idx3-ubyte\.gz.*\(5000000, 28, 28\).*max_array_bytes", str(error))
    assert peak < 2**20


def test_a_gzip_bomb_within_the_limit_is_refused_with_bounded_memory(tmp_path):
    # the header declares 1 kB, the stream holds 64 MB more: read 1 kB, then a bounded look past it
    path = gzip_bomb(tmp_path / "long.idx.gz", idx_header((1000,)), 1000 + 64 * 2**20)
    error, peak = peak_bytes(datasets.load_idx, path)
    assert re.search(r"long\.idx\.gz: trailing bytes.*1000 data bytes.*more than", str(error))
    assert peak < 8 * 2**20


def test_a_gzip_file_too_small_for_its_declared_data_is_refused_before_reading(tmp_path):
    path = write(tmp_path / "small.idx.gz", idx_header((3000, 28, 28)) + bytes(10), gz=True)
    error, peak = peak_bytes(datasets.load_idx, path)
    assert re.search(
        rf"small\.idx\.gz: truncated.*2352000 data bytes.*gzip file of {path.stat().st_size} bytes",
        str(error),
    )
    assert peak < 2**20  # the 2.3 MB buffer was never allocated


def test_the_idx_limit_is_the_callers(tmp_path):
    values = np.arange(600, dtype=np.uint8).reshape(6, 100) % 7
    path = write(tmp_path / "data.idx.gz", idx_bytes(values), gz=True)
    np.testing.assert_array_equal(
        datasets.load_idx(path, limits=ReadLimits(max_array_bytes=600)), values
    )
    with pytest.raises(ReadLimitError, match=r"data\.idx\.gz.*600 bytes.*599-byte"):
        datasets.load_idx(path, limits=ReadLimits(max_array_bytes=599))


def test_mnist_with_no_images_names_the_file(tmp_path):
    write_mnist(tmp_path, "train", np.zeros((0, 28, 28)), np.zeros(0))
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: holds no images"):
        datasets.load_mnist(tmp_path)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero here")
def test_an_mnist_file_linked_to_dev_zero_is_refused_at_once(tmp_path):
    images, labels = tiny_mnist(2)
    write_mnist(tmp_path, "train", images, labels)
    (tmp_path / "train-images-idx3-ubyte").unlink()
    (tmp_path / "train-images-idx3-ubyte").symlink_to("/dev/zero")
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: is a character device"):
        datasets.load_mnist(tmp_path)


# ---------------------------------------------------------------- npz


@pytest.mark.parametrize(
    ("y", "y_expected"),
    [
        (np.array([0, 2, 1], dtype=np.uint8), np.array([0, 2, 1])),
        (np.array([3.0, -1.0, 0.0]), np.array([3, -1, 0])),
        (np.array(["cat", "dog", "cat"]), np.array(["cat", "dog", "cat"])),
    ],
)
def test_npz_round_trip(tmp_path, y, y_expected):
    X = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.int32)
    path = tmp_path / "data.npz"
    np.savez(path, X=X, y=y)
    X_loaded, y_loaded = datasets.load_npz(path)
    assert X_loaded.dtype == np.float64
    np.testing.assert_array_equal(X_loaded, X)
    np.testing.assert_array_equal(y_loaded, y_expected)
    assert y_loaded.dtype == (np.int64 if y_expected.dtype.kind == "i" else y_expected.dtype)


@pytest.mark.parametrize(
    ("arrays", "error", "pattern"),
    [
        ({"X": np.zeros((2, 2))}, ValueError, r"y.*\['X'\]"),
        ({"x": np.zeros((2, 2)), "labels": np.zeros(2)}, ValueError, r"X, y.*'labels', 'x'"),
        ({"X": np.zeros(3), "y": np.zeros(3)}, ValueError, r"X must be 2-D.*\(3,\)"),
        ({"X": np.zeros((0, 3)), "y": np.zeros(0)}, ValueError, "at least one row"),
        ({"X": np.zeros((3, 0)), "y": np.zeros(3)}, ValueError, "one column"),
        ({"X": np.array([["a", "b"]]), "y": np.zeros(1)}, TypeError, "X must be numeric"),
        ({"X": np.zeros((2, 2)), "y": np.zeros(3)}, ValueError, "y must be 1-D.*one label"),
        ({"X": np.zeros((2, 2)), "y": np.zeros((2, 1))}, ValueError, "y must be 1-D"),
        ({"X": np.zeros((2, 2)), "y": np.array([0.0, 1.5])}, ValueError, r"y\[1\] = 1\.5"),
        ({"X": np.zeros((2, 2)), "y": np.array([0.0, np.nan])}, ValueError, r"y\[1\]"),
        ({"X": np.zeros((2, 2)), "y": np.array([1j, 2j])}, TypeError, "y must hold"),
    ],
)
def test_npz_rejects_bad_contents_naming_the_file(tmp_path, arrays, error, pattern):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(error, match=r"bad\.npz.*" + pattern):
        datasets.load_npz(path)


@pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
def test_npz_non_finite_value_names_row_and_column(tmp_path, bad_value):
    X = np.zeros((4, 3))
    X[2, 1] = bad_value
    X[3, 0] = bad_value  # a later one: the first in row order is reported
    path = tmp_path / "nonfinite.npz"
    np.savez(path, X=X, y=np.zeros(4))
    with pytest.raises(ValueError, match=r"nonfinite\.npz.*finite.*row 2, column 1"):
        datasets.load_npz(path)


def test_npz_object_arrays_are_refused_not_unpickled(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, X=np.zeros((2, 2)), y=np.array([0, {"evil": 1}], dtype=object))
    with pytest.raises((TypeError, ValueError), match=r"pickled\.npz"):
        datasets.load_npz(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("notzip.npz", b"hello, not an archive"), ("empty.npz", b"")],
)
def test_npz_unreadable_file_names_it(tmp_path, name, content):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        datasets.load_npz(path)


def test_npz_single_array_file_is_rejected(tmp_path):
    path = tmp_path / "single.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"single\.npz.*X and y"):
        datasets.load_npz(path)


def test_npz_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        datasets.load_npz(tmp_path / "absent.npz")


# ---------------------------------------------------------------- csv


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path


def test_csv_round_trip_with_the_label_column_anywhere(tmp_path):
    X = np.array([[0.5, -2.0, 3.0], [1e-3, 4.0, 0.0], [7.0, 8.0, 9.25]])
    y = np.array([2, 0, 1])
    rows = [["a", "label", "b", "c"]] + [
        [repr(float(r[0])), str(label), repr(float(r[1])), repr(float(r[2]))]
        for r, label in zip(X, y, strict=True)
    ]
    X_loaded, y_loaded = datasets.load_csv(write_csv(tmp_path / "data.csv", rows))
    assert X_loaded.dtype == np.float64 and y_loaded.dtype == np.int64
    np.testing.assert_array_equal(X_loaded, X)
    np.testing.assert_array_equal(y_loaded, y)


def test_csv_string_labels_and_a_custom_label_column(tmp_path):
    rows = [["x1", "x2", "species"], [1, 2, "setosa"], [3, 4, "virginica"], [5, 6, "setosa"]]
    X, y = datasets.load_csv(write_csv(tmp_path / "iris.csv", rows), label="species")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert y.tolist() == ["setosa", "virginica", "setosa"]
    assert y.dtype.kind == "U"


def test_csv_integral_float_labels_become_int64_and_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "floats.csv"
    path.write_text("f,label\n0.5,1.0\n\n1.5,0.0\n", encoding="utf-8")
    X, y = datasets.load_csv(path)
    np.testing.assert_array_equal(X, [[0.5], [1.5]])
    assert y.dtype == np.int64 and y.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("rows", "pattern"),
    [
        ([], "empty"),
        ([["f", "label"]], "no data rows"),
        ([["1", "2"], ["3", "4"]], r"label column 'label' is missing.*\['1', '2'\]"),
        ([["f", "label", "label"], [1, 2, 3]], "more than once"),
        ([["label"], [1]], "no feature columns"),
        ([["f", "label"], [1, 0], [2]], "line 3 has 1 cells.*2 columns"),
        ([["f", "g", "label"], [1, 2, 0], [3, "x", 1]], r"line 3, column 'g': 'x' is not a number"),
        ([["f", "g", "label"], [1, 2, 0], ["", 2, 1]], r"line 3, column 'f': '' is not a number"),
        ([["f", "g", "label"], [1, 2, 0], [3, "nan", 1]], r"finite.*line 3, column 'g'"),
        ([["f", "g", "label"], [1, "-inf", 0]], r"finite.*line 2, column 'g'"),
        ([["f", "label"], [1, 0.5], [2, 1]], r"y\[0\] = 0\.5 \(line 2\)"),
        ([["f", "label"], [1, ""], [2, 1]], r"line 2, column 'label': empty"),
    ],
)
def test_csv_rejects_bad_contents_naming_the_file(tmp_path, rows, pattern):
    path = write_csv(tmp_path / "bad.csv", rows)
    with pytest.raises(ValueError, match=r"bad\.csv.*" + pattern):
        datasets.load_csv(path)


def test_csv_errors_give_the_files_line_numbers_past_blank_lines_and_quoted_newlines(tmp_path):
    path = tmp_path / "lines.csv"
    # line 1 header, 2 blank, 3 a row, 4-5 one row with a quoted newline, 6 a bad cell
    path.write_text('f,label\n\n1,0\n"2\n",1\nx,1\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"lines\.csv: line 6, column 'f': 'x' is not a number"):
        datasets.load_csv(path)
    path.write_text("f,label\n\n\n1,0\n2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lines\.csv: line 5 has 1 cells"):
        datasets.load_csv(path)
    path.write_text("f,label\n1,0\n\ninf,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lines\.csv: X must be finite, but line 4, column 'f'"):
        datasets.load_csv(path)


def test_csv_is_read_only_from_a_regular_file_of_bounded_size(tmp_path):
    path = write_csv(tmp_path / "d.csv", [["f", "label"], [1, 0], [2, 1]])
    with pytest.raises(ReadLimitError, match=r"d\.csv: file is \d+ bytes.*max_file_bytes"):
        datasets.load_csv(path, limits=ReadLimits(max_file_bytes=5))
    with pytest.raises(MissingFileError):
        datasets.load_csv(tmp_path / "absent.csv")


# ---------------------------------------------------------------- load(spec)


def test_load_digits_and_moons_specs():
    digits = datasets.load("digits")
    assert set(digits) == {"X", "y"} and digits["X"].shape == (1797, 64)
    moons = datasets.load("moons")
    assert set(moons) == {"X", "y"} and moons["X"].shape == (200, 2)
    np.testing.assert_array_equal(moons["X"], datasets.load("moons")["X"])  # reproducible


def test_load_mnist_spec_returns_the_fixed_test_split(tmp_path):
    train_images, train_labels = tiny_mnist(4, seed=1)
    test_images, test_labels = tiny_mnist(2, seed=2)
    write_mnist(tmp_path, "train", train_images, train_labels)
    write_mnist(tmp_path, "test", test_images, test_labels)
    data = datasets.load(f"mnist:{tmp_path}")
    assert set(data) == {"X", "y", "X_test", "y_test"}
    np.testing.assert_array_equal(data["X_test"], test_images.reshape(2, -1))
    np.testing.assert_array_equal(data["y"], train_labels)


def test_load_file_specs(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.eye(2), y=np.array([0, 1]))
    write_csv(tmp_path / "d.CSV", [["f", "target"], [1, "a"], [2, "b"]])
    npz = datasets.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(npz["X"], np.eye(2))
    table = datasets.load(str(tmp_path / "d.CSV"), label="target")
    assert table["y"].tolist() == ["a", "b"]


@pytest.mark.parametrize("spec", ["iris", "mnist:", "data.txt", ""])
def test_load_unknown_spec_lists_the_accepted_forms(spec):
    with pytest.raises(ValueError, match=r"spec.*'digits'.*'moons'.*'mnist:DIR'.*\.npz.*\.csv"):
        datasets.load(spec)


def test_load_rejects_a_non_string_spec():
    with pytest.raises(TypeError, match="spec"):
        datasets.load(42)
