"""Model files are untrusted input: ``MLPClassifier.load`` never unpickles and checks everything.

Crafted and damaged files (a pickle payload that would touch a marker file,
truncated, random, empty, foreign members, bad metadata, shapes that do not
chain, NaN weights, wrong dtypes, a huge declared size, bad classes, an
oversized file, ...) are each refused with a ValueError naming the file and
what is wrong, without side effects. A model saved on one backend loads on
every other and predicts the same.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from conftest import resolve_backend, selected_backend_specs

import xpnet
from xpnet import io as xio
from xpnet.datasets import load_digits

X_ALL, Y_ALL = load_digits()
X_ALL = X_ALL / 16.0
X_TRAIN, Y_TRAIN, X_TEST = X_ALL[:400], Y_ALL[:400], X_ALL[1500:]


def _small_model(backend: str = "numpy") -> xpnet.MLPClassifier:
    return xpnet.MLPClassifier(
        hidden_layer_sizes=(12,), max_iter=3, random_state=0, backend=backend
    ).fit(X_TRAIN, Y_TRAIN)


@pytest.fixture(scope="module")
def good_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "good.npz"
    _small_model().save(path)
    return path


@pytest.fixture(scope="module")
def good_parts(good_file) -> tuple[dict, dict]:
    """The good file's (meta, arrays), to damage one thing at a time."""
    meta, arrays = xio.read_archive(good_file, xio.MODEL_FORMAT)
    return meta, arrays


def test_the_good_file_loads_and_predicts_like_the_model(good_file):
    """The control for every refusal below: the undamaged file is accepted."""
    clf = xpnet.MLPClassifier.load(good_file, backend="numpy")
    assert clf.predict(X_TEST).shape == (X_TEST.shape[0],)
    np.testing.assert_array_equal(clf.predict(X_TEST), _small_model().predict(X_TEST))


# ------------------------------------------------------------------ building crafted files


class _TouchesMarker:
    """Unpickling this touches a file: proof that something was unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _members(meta: dict, arrays: dict) -> dict[str, bytes]:
    """The .npy members of a model file with this meta and these arrays."""
    raw = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return {"meta.npy": _npy_bytes(raw), **{f"{k}.npy": _npy_bytes(v) for k, v in arrays.items()}}


def _rewrite(meta_change: Callable[[dict], None] | None = None, **array_changes):
    """A builder writing the good file with its metadata changed and arrays replaced/removed."""

    def build(path: Path, meta: dict, arrays: dict) -> Path:
        meta = json.loads(json.dumps(meta))
        arrays = dict(arrays)
        if meta_change is not None:
            meta_change(meta)
        for name, value in array_changes.items():
            if value is None:
                arrays.pop(name)
            else:
                arrays[name] = value(arrays) if callable(value) else value
        return xio.write_archive(path, meta, arrays)

    return build


def _set(key: str, value):
    return lambda meta: meta.__setitem__(key, value)


def _with_nan(arrays):
    W = arrays["W0"].copy()
    W[0, 0] = np.nan
    return W


def _pickle_payload(path: Path, meta: dict, arrays: dict) -> Path:
    members = _members(meta, arrays)
    evil = np.array([_TouchesMarker(path.parent / "MARKER")], dtype=object)
    members["W0.npy"] = _npy_bytes(evil, allow_pickle=True)
    return _zip(path, members)


def _pickle_extra_member(path: Path, meta: dict, arrays: dict) -> Path:
    members = _members(meta, arrays)
    evil = np.array([_TouchesMarker(path.parent / "MARKER")], dtype=object)
    members["extra.npy"] = _npy_bytes(evil, allow_pickle=True)
    return _zip(path, members)


def _whole_file_is_a_pickle(path: Path, meta: dict, arrays: dict) -> Path:
    import pickle

    path.write_bytes(pickle.dumps(_TouchesMarker(path.parent / "MARKER")))
    return path


def _huge_declared_size(path: Path, meta: dict, arrays: dict) -> Path:
    members = _members(meta, arrays)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**12,)}
    )
    members["b0.npy"] = header.getvalue() + b"\0" * 64
    return _zip(path, members)


def _truncated(path: Path, meta: dict, arrays: dict) -> Path:
    data = xio.write_archive(path, meta, arrays).read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    return path


def _random_bytes(path: Path, meta: dict, arrays: dict) -> Path:
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    return path


def _empty(path: Path, meta: dict, arrays: dict) -> Path:
    path.write_bytes(b"")
    return path


def _wrong_member(path: Path, meta: dict, arrays: dict) -> Path:
    members = _members(meta, arrays)
    members["README.txt"] = b"hello"
    return _zip(path, members)


def _path_member(path: Path, meta: dict, arrays: dict) -> Path:
    members = _members(meta, arrays)
    members["../W0.npy"] = members.pop("W0.npy")
    return _zip(path, members)


def _compressed(path: Path, meta: dict, arrays: dict) -> Path:
    return _zip(path, _members(meta, arrays), compression=zipfile.ZIP_DEFLATED)


def _no_meta(path: Path, meta: dict, arrays: dict) -> Path:
    members = _members(meta, arrays)
    del members["meta.npy"]
    return _zip(path, members)


def _raw_meta(raw: bytes | np.ndarray):
    def build(path: Path, meta: dict, arrays: dict) -> Path:
        members = _members(meta, arrays)
        array = raw if isinstance(raw, np.ndarray) else np.frombuffer(raw, dtype=np.uint8)
        members["meta.npy"] = _npy_bytes(array)
        return _zip(path, members)

    return build


def _checkpoint_instead(path: Path, meta: dict, arrays: dict) -> Path:
    xpnet.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, backend="numpy").fit(
        X_TRAIN, Y_TRAIN, checkpoint=path
    )
    return path


CRAFTED = [
    ("pickle-payload-as-weights", _pickle_payload, "Python objects"),
    ("pickle-payload-extra-member", _pickle_extra_member, "Python objects"),
    ("whole-file-a-pickle", _whole_file_is_a_pickle, "not an xpnet file"),
    ("truncated", _truncated, "not an xpnet file"),
    ("random-bytes", _random_bytes, "not an xpnet file"),
    ("empty", _empty, "not an xpnet file"),
    ("wrong-member", _wrong_member, "unexpected member"),
    ("member-with-a-path", _path_member, "unexpected member"),
    ("compressed-members", _compressed, "compressed"),
    ("no-metadata", _no_meta, "metadata"),
    ("extra-array", _rewrite(extra=np.zeros(3, np.float32)), "unexpected arrays"),
    ("wrong-format-name", _rewrite(_set("format", "keras-model")), "format"),
    ("checkpoint-not-model", _checkpoint_instead, "format"),
    ("future-format-version", _rewrite(_set("format_version", 99)), "format_version"),
    ("format-version-string", _rewrite(_set("format_version", "1")), "format_version"),
    ("shapes-do-not-chain", _rewrite(W1=lambda a: np.zeros((10, 7), np.float32)), "shape"),
    ("layer-sizes-not-ints", _rewrite(_set("layer_sizes", [64, "12", 10])), "layer_sizes"),
    ("layer-sizes-disagree", _rewrite(_set("layer_sizes", [64, 13, 10])), "shape"),
    ("nan-weight", _rewrite(W0=_with_nan), "NaN"),
    ("inf-bias", _rewrite(b1=lambda a: np.full(10, np.inf, np.float32)), "NaN or inf"),
    ("wrong-dtype", _rewrite(W0=lambda a: a["W0"].astype(np.float64)), "dtype"),
    ("foreign-byte-order", _rewrite(W0=lambda a: a["W0"].astype(">f4")), "dtype"),
    ("meta-dtype-unknown", _rewrite(_set("dtype", "float16")), "dtype"),
    ("unknown-activation", _rewrite(_set("activation", "swish")), "activation"),
    ("samples-seen-negative", _rewrite(_set("t", -1)), "'t'"),
    ("samples-seen-huge", _rewrite(_set("t", 2**70)), "'t'"),
    ("samples-seen-float", _rewrite(_set("t", 1.5)), "'t'"),
    ("samples-seen-bool", _rewrite(_set("t", True)), "'t'"),
    ("huge-declared-size", _huge_declared_size, "declares shape"),
    ("missing-classes", _rewrite(classes=None), "classes"),
    ("missing-weights", _rewrite(W1=None), "W1"),
    ("too-few-classes", _rewrite(classes=lambda a: a["classes"][:-1]), "classes"),
    ("duplicate-classes", _rewrite(classes=lambda a: np.zeros(10, np.int64)), "duplicate"),
    ("float-classes", _rewrite(classes=lambda a: np.arange(10.0)), "classes"),
    ("invalid-json", _raw_meta(b"{'format': 'xpnet-model'"), "JSON"),
    ("not-utf8-json", _raw_meta(b"\xff\xfe{}"), "JSON"),
    ("json-not-an-object", _raw_meta(b"[1, 2, 3]"), "JSON object"),
    ("deeply-nested-json", _raw_meta(b"[" * 100_000 + b"]" * 100_000), "JSON"),
    ("meta-not-uint8", _raw_meta(np.arange(5, dtype=np.float64)), "uint8"),
    (
        "bad-hyperparameters",
        _rewrite(lambda m: m["hyperparams"].__setitem__("l2", -1.0)),
        "hyperparameters",
    ),
]


@pytest.mark.parametrize("build, fragment", [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_or_damaged_files_are_refused(tmp_path, good_parts, build, fragment):
    meta, arrays = good_parts
    path = build(tmp_path / "crafted.npz", meta, arrays)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ValueError) as caught:
        xpnet.MLPClassifier.load(path, backend="numpy")
    message = str(caught.value)
    assert str(path) in message, f"the message must name the file: {message}"
    assert fragment in message, f"expected {fragment!r} in: {message}"
    assert not (tmp_path / "MARKER").exists(), "something was unpickled"
    assert sorted(os.listdir(tmp_path)) == before, "a failed load must change nothing"


def test_the_pickle_payload_really_would_run_code(tmp_path, good_parts):
    """Guard for the test above: loading the payload with pickle allowed does touch the marker."""
    path = _pickle_payload(tmp_path / "evil.npz", *good_parts)
    with np.load(path, allow_pickle=True) as npz:
        npz["W0"]
    assert (tmp_path / "MARKER").exists()


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path, good_file, monkeypatch):
    monkeypatch.setattr(xio, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ValueError, match=r"good\.npz.*more than the 1000-byte limit"):
        xpnet.MLPClassifier.load(good_file, backend="numpy")


def test_a_missing_file_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="nothing-here.npz"):
        xpnet.MLPClassifier.load(tmp_path / "nothing-here.npz", backend="numpy")


# ------------------------------------------------------------------ across backends

_SOURCES: dict[str, tuple[xpnet.MLPClassifier, np.ndarray, np.ndarray]] = {}
SPECS = selected_backend_specs()


def _source(spec: str, directory: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    """A model trained on ``spec``, saved; its own predict and predict_proba on X_TEST."""
    b = resolve_backend(spec)
    path = directory / f"{spec.replace(':', '_')}.npz"
    if spec not in _SOURCES:
        clf = _small_model(b.name)
        X_b = b.asarray(X_TEST)
        _SOURCES[spec] = (
            clf,
            xpnet.to_numpy(clf.predict(X_b)),
            xpnet.to_numpy(clf.predict_proba(X_b)),
        )
    clf, pred, proba = _SOURCES[spec]
    if not path.exists():
        clf.save(path)
    return path, pred, proba


@pytest.mark.parametrize("source", SPECS)
@pytest.mark.parametrize("target", SPECS)
def test_a_model_saved_on_one_backend_predicts_the_same_on_another(
    source, target, tmp_path_factory
):
    directory = tmp_path_factory.getbasetemp() / "cross-backend"
    directory.mkdir(exist_ok=True)
    path, pred, proba = _source(source, directory)
    b = resolve_backend(target)
    loaded = xpnet.MLPClassifier.load(path, backend=target)
    assert loaded.backend_ == b.name
    X_b = b.asarray(X_TEST)
    got_pred = loaded.predict(X_b)
    got_proba = loaded.predict_proba(X_b)
    assert xpnet.get_backend(got_pred).library == b.library, "outputs live where X lives"
    np.testing.assert_array_equal(xpnet.to_numpy(got_pred), pred)
    np.testing.assert_allclose(xpnet.to_numpy(got_proba), proba, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(loaded.classes_, np.arange(10))


# ------------------------------------------------------------------ format version 2: the input standardisation

X_RAW = load_digits()[0][:400]  # pixels 0..16, for a model that standardises them itself


@pytest.fixture(scope="module")
def standardising_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "standardising.npz"
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(12,), max_iter=3, random_state=0, backend="numpy", standardize=True
    ).fit(X_RAW, Y_TRAIN)
    clf.feature_names_in_ = np.asarray([f"px{i}" for i in range(64)], dtype=object)
    return clf.save(path, label_column="digit")


@pytest.mark.parametrize("cls", [xpnet.MLPClassifier, xpnet.MLPRegressor])
def test_a_standardising_model_file_carries_its_statistics_names_and_label_column(tmp_path, cls):
    y = Y_TRAIN if cls is xpnet.MLPClassifier else X_RAW[:, :2] @ [0.1, 0.2]
    model = cls((9,), max_iter=3, random_state=0, backend="numpy", standardize=True).fit(X_RAW, y)
    path = model.save(tmp_path / "m.npz", label_column="target")
    meta, arrays = xio.read_archive(path, xio.MODEL_FORMAT)
    assert meta["format_version"] == 2 and meta["label_column"] == "target"
    assert meta["hyperparams"]["standardize"] is True
    # the statistics are the training data's, in float64 (NumPy reference)
    np.testing.assert_allclose(arrays["standardizer_mean"], X_RAW.mean(axis=0), rtol=1e-13)
    std = X_RAW.std(axis=0)
    np.testing.assert_allclose(
        arrays["standardizer_scale"], np.where(std > 0, std, 1.0), rtol=1e-12
    )
    loaded = cls.load(path, backend="numpy")
    assert loaded.standardize is True and loaded.standardizer_.learned
    X = load_digits()[0][1500:]  # raw pixels: the loaded model standardises them itself
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    again = loaded.save(tmp_path / "again.npz")  # the label column survives a load
    assert xio.read_archive(again, xio.MODEL_FORMAT)[0]["label_column"] == "target"


def test_a_given_standardizer_round_trips_as_given(tmp_path):
    from xpnet.preprocessing import Standardizer

    pixels = Standardizer.from_stats(0.0, 16.0, 64)
    clf = xpnet.MLPClassifier((8,), max_iter=2, random_state=0, backend="numpy", standardize=pixels)
    clf.fit(X_RAW, Y_TRAIN).save(tmp_path / "m.npz")
    loaded = xpnet.MLPClassifier.load(tmp_path / "m.npz", backend="numpy")
    assert isinstance(loaded.standardize, Standardizer) and not loaded.standardizer_.learned
    assert loaded.standardizer_.scale_.tolist() == [16.0] * 64
    np.testing.assert_array_equal(loaded.predict(X_RAW), clf.predict(X_RAW))
    # the same network without the standardisation, fed pixels / 16 by hand
    loaded.standardizer_ = None
    np.testing.assert_array_equal(loaded.predict(X_RAW / 16.0), clf.predict(X_RAW))


def test_a_version_1_file_written_by_its_documented_layout_still_loads(tmp_path):
    """Version 1: meta (format, format_version 1, activation, dtype, layer_sizes,
    hyperparams without standardize, feature_names) and W0, b0, W1, b1, classes."""
    rng = np.random.default_rng(5)
    W0, b0 = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=4).astype(np.float32)
    W1, b1 = rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    meta = {
        "format": xio.MODEL_FORMAT,
        "format_version": 1,
        "estimator": "MLPClassifier",
        "activation": "relu",
        "dtype": "float32",
        "layer_sizes": [3, 4, 2],
        "hyperparams": {"hidden_layer_sizes": [4], "alpha": 0.0001, "backend": "numpy"},
        "feature_names": ["a", "b", "c"],
    }
    arrays = {"W0": W0, "b0": b0, "W1": W1, "b1": b1, "classes": np.array([3, 7])}
    path = xio.write_archive(tmp_path / "v1.npz", meta, arrays)
    clf = xpnet.MLPClassifier.load(path, backend="numpy")
    assert clf.standardizer_ is None and clf.standardize is False
    assert clf.feature_names_in_.tolist() == ["a", "b", "c"]
    X = rng.normal(size=(20, 3))
    logits = np.maximum(X @ W0.T.astype(float) + b0, 0) @ W1.T.astype(float) + b1
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_array_equal(clf.predict(X), np.array([3, 7])[logits.argmax(axis=1)])


def _drop_meta(key):
    return lambda meta: meta.pop(key)


STANDARDIZER_CRAFTED = [
    ("nan-mean", _rewrite(standardizer_mean=lambda a: a["standardizer_mean"] * np.nan), "finite"),
    ("zero-scale", _rewrite(standardizer_scale=lambda a: a["standardizer_scale"] * 0), "positive"),
    ("short-mean", _rewrite(standardizer_mean=lambda a: a["standardizer_mean"][:-1]), "64 float64"),
    (
        "float32-scale",
        _rewrite(standardizer_scale=lambda a: a["standardizer_scale"].astype(np.float32)),
        "float64",
    ),
    ("no-scale-array", _rewrite(standardizer_scale=None), "standardizer_scale"),
    ("no-standardizer-meta", _rewrite(_drop_meta("standardizer")), "standardizer"),
    ("in-a-version-1-file", _rewrite(_set("format_version", 1)), "format version 1"),
    (
        "hyperparameter-says-no",
        _rewrite(lambda m: m["hyperparams"].__setitem__("standardize", False)),
        "does not match",
    ),
    ("label-column-not-a-string", _rewrite(_set("label_column", 3)), "label_column"),
    ("standardizer-meta-bad", _rewrite(_set("standardizer", {"learned": "yes"})), "learned"),
]


@pytest.mark.parametrize(
    "build, fragment",
    [c[1:] for c in STANDARDIZER_CRAFTED],
    ids=[c[0] for c in STANDARDIZER_CRAFTED],
)
def test_a_crafted_standardisation_is_refused(tmp_path, standardising_file, build, fragment):
    meta, arrays = xio.read_archive(standardising_file, xio.MODEL_FORMAT)
    path = build(tmp_path / "crafted.npz", meta, arrays)
    with pytest.raises(ValueError) as caught:
        xpnet.MLPClassifier.load(path, backend="numpy")
    assert str(path) in str(caught.value) and fragment in str(caught.value), str(caught.value)


def test_a_standardising_model_without_its_arrays_is_refused(tmp_path, standardising_file):
    meta, arrays = xio.read_archive(standardising_file, xio.MODEL_FORMAT)
    meta.pop("standardizer")
    arrays = {k: v for k, v in arrays.items() if not k.startswith("standardizer_")}
    path = xio.write_archive(tmp_path / "bare.npz", meta, arrays)
    with pytest.raises(ValueError, match="standardize=True does not match.*there is none"):
        xpnet.MLPClassifier.load(path, backend="numpy")


def test_the_samples_seen_survive_a_file_so_invscaling_continues(tmp_path):
    X, y = xpnet.datasets.load_digits()
    X, y = X[:300] / 16.0, y[:300]
    kw = {"solver": "sgd", "learning_rate": "invscaling", "max_iter": 2, "backend": "numpy"}
    clf = xpnet.MLPClassifier((8,), random_state=0, **kw).fit(X, y)
    assert clf.t_ == 2 * 300  # sklearn's count: samples seen over the epochs
    loaded = xpnet.MLPClassifier.load(clf.save(tmp_path / "m.npz"))
    assert loaded.t_ == clf.t_
