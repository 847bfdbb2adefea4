"""ONNX export: the graph traced from xpnet's forward pass, run by onnxruntime, agrees
with the estimator (float32, within 1e-5), for every activation."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import xpnet

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (the export extra)")
pytest.importorskip("ndonnx", reason="ndonnx is not installed (the export extra)")
onnx = pytest.importorskip("onnx")

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softplus", "abs", "identity")


def _digits():
    X, y = xpnet.datasets.load_digits()
    return (X / 16.0).astype(np.float32), y


def _fit(activation: str):
    X, y = _digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return xpnet.MLPClassifier(
            hidden_layer_sizes=(12, 7),
            activation=activation,
            max_iter=5,
            random_state=0,
            backend="numpy",
        ).fit(X[:500], y[:500] + 3)  # labels 3..12: the graph gives indices


def _run(path, X):
    session = ort.InferenceSession(str(path))
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"X": X}), strict=True))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_exported_classifier_agrees_with_predict_proba(activation, tmp_path):
    clf = _fit(activation)
    X, _ = _digits()
    path = xpnet.export.to_onnx(clf, tmp_path / "model.onnx")
    out = _run(path, X[500:900])
    proba = clf.predict_proba(X[500:900])
    np.testing.assert_allclose(out["probabilities"], proba, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(clf.classes_[out["label"]], clf.predict(X[500:900]))
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["xpnet.classes"]) == clf.classes_.tolist()
    (inp,) = model.graph.input
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and dims[1].dim_value == 64  # n dynamic, d fixed
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_a_model_file_exports_like_the_estimator(tmp_path):
    clf = _fit("tanh")
    X, _ = _digits()
    clf.save(tmp_path / "model.npz")
    a = _run(xpnet.export.to_onnx(clf, tmp_path / "a.onnx"), X[:50])
    b = _run(xpnet.export.to_onnx(tmp_path / "model.npz", tmp_path / "b.onnx"), X[:50])
    np.testing.assert_array_equal(a["probabilities"], b["probabilities"])


def test_an_unfitted_model_or_a_bad_opset_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="fit"):
        xpnet.export.to_onnx(xpnet.MLPClassifier(), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="opset"):
        xpnet.export.to_onnx(_fit("relu"), tmp_path / "m.onnx", opset=0)


def test_the_command_exports_a_model_file(tmp_path):
    from xpnet.cli import main

    clf = _fit("relu")
    X, _ = _digits()
    clf.save(tmp_path / "model.npz")
    code = main(
        ["export", "--model", str(tmp_path / "model.npz"), "--onnx", str(tmp_path / "m.onnx")]
    )
    assert code == 0
    out = _run(tmp_path / "m.onnx", X[:20])
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(X[:20]), atol=1e-5, rtol=0)
    assert main(["export", "--model", str(tmp_path / "missing.npz"), "--onnx", "x.onnx"]) != 0


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_exported_regressor_agrees_with_predict(activation, tmp_path):
    X, _ = _digits()
    Y = np.stack([X[:, :32].mean(axis=1), X[:, 32:].max(axis=1)], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = xpnet.MLPRegressor(
            hidden_layer_sizes=(9,),
            activation=activation,
            max_iter=5,
            random_state=0,
            backend="numpy",
        ).fit(X[:400], Y[:400])
    reg.save(tmp_path / "reg.npz")
    for source in (reg, tmp_path / "reg.npz"):
        out = _run(xpnet.export.to_onnx(source, tmp_path / "reg.onnx"), X[400:600])
        np.testing.assert_allclose(out["prediction"], reg.predict(X[400:600]), rtol=0, atol=1e-5)
    model = onnx.load(str(tmp_path / "reg.onnx"))
    assert {p.key: p.value for p in model.metadata_props}["xpnet.kind"] == "regressor"


@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_standardising_model_exports_its_standardisation(kind, tmp_path):
    """standardize=True: the graph takes raw features, like predict / predict_proba."""
    X_raw, y = xpnet.datasets.load_digits()
    X_raw = (X_raw * 40.0 + 300.0).astype(np.float32)  # far from standardised
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "classifier":
            est = xpnet.MLPClassifier(
                (12,), max_iter=5, random_state=0, backend="numpy", standardize=True
            ).fit(X_raw[:500], y[:500])
        else:
            est = xpnet.MLPRegressor(
                (9,), max_iter=5, random_state=0, backend="numpy", standardize=True
            ).fit(X_raw[:500], X_raw[:500, :2] / 100.0)
    est.save(tmp_path / "m.npz")
    for source in (est, tmp_path / "m.npz"):
        out = _run(xpnet.export.to_onnx(source, tmp_path / "m.onnx"), X_raw[500:900])
        if kind == "classifier":
            np.testing.assert_allclose(
                out["probabilities"], est.predict_proba(X_raw[500:900]), rtol=0, atol=1e-5
            )
        else:
            np.testing.assert_allclose(
                out["prediction"], est.predict(X_raw[500:900]), rtol=0, atol=1e-5
            )
    # the standardisation is really in the graph: without it the outputs differ
    bare = xpnet.MLPClassifier.load if kind == "classifier" else xpnet.MLPRegressor.load
    plain = bare(tmp_path / "m.npz", backend="numpy")
    plain.standardizer_ = None
    out = _run(xpnet.export.to_onnx(plain, tmp_path / "plain.onnx"), X_raw[500:900])
    key = "probabilities" if kind == "classifier" else "prediction"
    reference = est.predict_proba if kind == "classifier" else est.predict
    assert np.max(np.abs(out[key] - reference(X_raw[500:900]))) > 1e-2
