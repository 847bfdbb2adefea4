"""ONNX export by tracing xpnet's own forward pass with ndonnx.

ndonnx is an array-API library whose arrays build an ONNX graph instead of
computing: running ``mlp.forward`` and ``functional.softmax`` on an ndonnx
input records exactly the network that xpnet evaluates, with no second
implementation to keep in step. The graph has one input ``X`` (float32,
shape (n, d), n dynamic) and, for a classifier, the outputs
``probabilities`` (n, m) and ``label`` (n,) (the index of the class; the
class values are in the model's metadata, ``xpnet.classes``), or, for a
regressor, ``prediction`` (n, k). The input standardisation the model
carries (``standardizer_``, from ``standardize=True``) is the graph's first
step, computed in float32 (the model applies it in float64, then rounds to
its dtype: the two agree to float32 rounding).

Example:
    >>> clf = xpnet.MLPClassifier(max_iter=20).fit(X, y)       # doctest: +SKIP
    >>> xpnet.export.to_onnx(clf, "model.onnx")                # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .backend import BackendUnavailableError, to_numpy

__all__ = ["to_onnx", "INSTALL_HINT"]

INSTALL_HINT = 'pip install -e ".[export]" (ndonnx; onnxruntime to run the exported model)'


def _ndonnx():
    try:
        import ndonnx
    except Exception as e:
        raise BackendUnavailableError(
            f"export: ndonnx is not importable ({type(e).__name__}: {e}); install with {INSTALL_HINT}"
        ) from e
    return ndonnx


def _load(model: Any) -> Any:
    """A fitted estimator from ``model`` (an estimator, or the path of a model file)."""
    if isinstance(model, (str, os.PathLike)):
        from . import io as _io
        from .estimators import MLPClassifier, MLPRegressor

        meta, _ = _io.read_archive(model, _io.MODEL_FORMAT)
        kind = MLPRegressor if meta.get("estimator") == "MLPRegressor" else MLPClassifier
        return kind.load(os.fspath(model), backend="numpy")
    if getattr(model, "params_", None) is None:
        raise ValueError(
            "model: expected a fitted xpnet estimator or the path of a model file; "
            f"got {type(model).__name__} without fitted parameters (call fit first)"
        )
    return model


def to_onnx(model: Any, path: str | os.PathLike, *, opset: int | None = None) -> Path:
    """Write ``model`` as an ONNX graph to ``path``; return the path.

    Args:
        model: a fitted ``MLPClassifier`` / ``MLPRegressor``, or a model file's path.
        path: where to write the ``.onnx`` file (written whole, then renamed).
        opset: the ONNX opset to target; None keeps ndonnx's (21 today).

    Raises:
        ValueError: ``model`` is not fitted, or ``opset`` cannot be reached.
        BackendUnavailableError: ndonnx is not installed.
    """
    ndx = _ndonnx()
    import onnx

    from .functional import softmax
    from .mlp import forward

    est = _load(model)
    params = [
        (np.asarray(to_numpy(W), dtype=np.float32), np.asarray(to_numpy(b), dtype=np.float32))
        for W, b in est.params_
    ]
    n_features = params[0][0].shape[1]
    X = ndx.argument(shape=("n", n_features), dtype=ndx.float32)
    h = X
    standardizer = getattr(est, "standardizer_", None)  # the model's input standardisation
    if standardizer is not None:
        mean = np.asarray(standardizer.mean_, dtype=np.float32)
        scale = np.asarray(standardizer.scale_, dtype=np.float32)
        h = (h - ndx.asarray(mean)) / ndx.asarray(scale)
    traced = [(ndx.asarray(W), ndx.asarray(b)) for W, b in params]
    outputs_a, _ = forward(traced, h, est.activation, xp=ndx)
    classes = getattr(est, "classes_", None)
    if classes is not None:
        outputs = {
            "probabilities": softmax(outputs_a, xp=ndx),
            "label": ndx.astype(ndx.argmax(outputs_a, axis=-1), ndx.int64),
        }
    else:
        outputs = {"prediction": outputs_a}
    proto = ndx.build({"X": X}, outputs)
    if opset is not None:
        if isinstance(opset, bool) or not isinstance(opset, int) or opset < 1:
            raise ValueError(f"opset: expected a positive int or None, got {opset!r}")
        try:
            proto = onnx.version_converter.convert_version(proto, opset)
        except Exception as e:
            raise ValueError(f"opset: cannot convert the graph to opset {opset} ({e})") from e
    meta = {"xpnet.kind": "classifier" if classes is not None else "regressor"}
    if classes is not None:
        meta["xpnet.classes"] = json.dumps(np.asarray(classes).tolist())
    names = getattr(est, "feature_names_in_", None)
    if names is not None:
        meta["xpnet.feature_names"] = json.dumps([str(n) for n in names])
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "xpnet"
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(proto.SerializeToString())
    os.replace(tmp, target)
    return target
