"""MLPClassifier: softmax outputs, cross-entropy loss and class labels, over ``BaseMLP``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import io as _io
from ..backend import get_backend, to_numpy
from ..functional import log_softmax, softmax
from ..losses import CROSS_ENTROPY
from ..validation import check_labels, check_sample_weight, encode_labels
from .base import BaseMLP, like_input

__all__ = ["MLPClassifier"]


class MLPClassifier(BaseMLP):
    """Multilayer perceptron classifier on any array-API backend.

    Softmax outputs and the cross-entropy loss (eq. (2.4)); labels are ints or
    strings, any number of classes (two included: softmax over two outputs,
    where scikit-learn uses one logistic output). The parameters are
    ``BaseMLP``'s: scikit-learn's names, defaults and meanings, and xpnet's
    ``l1``, ``l2``, ``standardize``, ``backend``, ``dtype``, ``compile``,
    ``allow_tf32``, ``on_divergence``.

    Attributes after fit, beside ``BaseMLP``'s: ``classes_`` (the sorted labels),
    ``out_activation_`` (``"softmax"``); ``validation_scores_`` are accuracies.

    Example:
        >>> from xpnet import MLPClassifier, datasets
        >>> X, y = datasets.make_moons(100, seed=0)
        >>> clf = MLPClassifier((16,), max_iter=300, learning_rate_init=0.01,
        ...                     backend="numpy", random_state=0).fit(X, y)
        >>> clf.score(X, y) > 0.9
        True
    """

    classes_: Any  # set by fit, partial_fit or load

    _estimator_type = "classifier"
    _metric = "error"
    out_activation_ = "softmax"

    def _loss(self) -> Any:
        return CROSS_ENTROPY

    def _n_outputs(self) -> int:
        return int(self.classes_.shape[0])

    def _fit_targets(self, y: Any, n: int, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        labels = check_labels(y, n)
        classes, idx = np.unique(labels, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y: needs at least 2 classes to train a classifier, got 1 class: {classes.tolist()}"
            )
        if not reset and not np.array_equal(classes, self.classes_):
            raise ValueError(
                "y: warm_start can only be used where `y` has the same classes as in the "
                f"previous call to fit. Previously got {self.classes_}, `y` has {classes}"
            )
        self.classes_ = classes
        idx = idx.astype(np.int64)
        return idx, idx

    def _eval_targets(self, y: Any, n: int, name: str) -> np.ndarray:
        return encode_labels(check_labels(y, n, name), self.classes_, name)

    def partial_fit(
        self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
    ) -> MLPClassifier:
        """One epoch over ``(X, y)`` in minibatches, continuing from ``params_``.

        Args:
            X, y: a chunk of training data.
            sample_weight: one weight per row, or None.
            classes: every label that will ever appear; required on the first call.
        """

        def targets(n: int, first: bool) -> np.ndarray:
            labels = check_labels(y, n)
            if first:
                if classes is None:
                    raise ValueError(
                        "classes: must be given on the first call to partial_fit "
                        "(every label that will appear, e.g. classes=np.arange(10))"
                    )
                found = np.unique(check_labels(classes, _n_labels(classes), "classes"))
                if found.shape[0] < 2:
                    raise ValueError(f"classes: needs at least 2 classes, got {found.tolist()}")
                self.classes_ = found
            elif classes is not None:
                found = np.unique(check_labels(classes, _n_labels(classes), "classes"))
                if not np.array_equal(found, self.classes_):
                    raise ValueError(
                        f"classes: {found.tolist()} differs from the classes of the first "
                        f"call, {self.classes_.tolist()}"
                    )
            return encode_labels(labels, self.classes_, "y")

        return self._partial_fit(X, targets, sample_weight)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities softmax(o_a), shape (n, n_classes), in X's namespace."""
        b = self._backend_obj_or_resolve()
        return like_input(softmax(self._outputs(X, "predict_proba"), b.xp), X)

    def predict_log_proba(self, X: Any) -> Any:
        """log softmax(o_a), computed stably (no log of 0), shape (n, n_classes)."""
        b = self._backend_obj_or_resolve()
        return like_input(log_softmax(self._outputs(X, "predict_log_proba"), b.xp), X)

    def predict(self, X: Any) -> Any:
        """Predicted labels, shape (n,); in X's namespace (NumPy for string labels)."""
        logits = self._outputs(X, "predict")
        b = self._backend_obj_or_resolve()
        idx = b.xp.argmax(logits, axis=-1)
        if self.classes_.dtype.kind in "biuf" and not isinstance(like_input(idx, X), np.ndarray):
            target = get_backend(X)
            return target.xp.take(target.asarray(self.classes_), target.asarray(idx), axis=0)
        return self.classes_[to_numpy(idx)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``)."""
        pred = np.asarray(to_numpy(self.predict(X)))
        truth = check_labels(y, pred.shape[0])
        if (truth.dtype.kind == "U") != (self.classes_.dtype.kind == "U"):
            raise TypeError(
                f"y: labels of dtype {truth.dtype} cannot be compared with this model's "
                f"classes of dtype {self.classes_.dtype} (strings vs numbers)"
            )
        w = check_sample_weight(sample_weight, pred.shape[0])
        return float(np.average(pred == truth, weights=w))

    def _backend_obj_or_resolve(self) -> Any:
        return self._current_backend()

    # ------------------------------------------------------------------ files

    def _output_arrays(self) -> dict:
        if self.classes_.dtype.kind == "O":
            raise TypeError("classes_: labels of mixed types cannot be saved")
        return {"classes": self.classes_}

    def _checkpoint_classes(self) -> np.ndarray:
        return self._output_arrays()["classes"]

    def _check_checkpoint_classes(self, path: Any, stored: Any) -> None:
        if stored is None or not np.array_equal(stored, self.classes_):
            raise ValueError(f"{path}: checkpoint's classes differ from the labels in y")

    @classmethod
    def load(cls, path: str | Path, backend: Any = "auto") -> MLPClassifier:
        """Read a model written by ``save`` (or by earlier xpnet versions) onto ``backend``.

        The model comes back with its input standardisation (``standardizer_``),
        ``feature_names_in_`` and label column; a file of format version 1 has no
        standardisation (``xpnet train`` wrote it to ``scaling.npz`` beside it).
        The file is untrusted: never unpickled, checked against its metadata.
        Raises ValueError for a damaged, crafted or foreign file.
        """
        meta, arrays = _io.read_archive(path, _io.MODEL_FORMAT)
        kind = meta.get("estimator", "MLPClassifier")
        if kind != "MLPClassifier":
            raise ValueError(f"{path}: the file holds an {kind}, not an MLPClassifier")
        arrays, standardizer = cls._split_standardizer(path, meta, arrays)
        params, classes = _io.check_model(path, meta, arrays)
        clf = cls._from_meta(path, meta, backend, params, standardizer)
        clf.classes_ = classes
        clf.n_outputs_ = int(classes.shape[0])
        return clf


def _n_labels(y: Any) -> int:
    """The length of a label array or sequence (0 for a scalar or a ragged nest)."""
    shape = getattr(y, "shape", None)
    if shape is None:
        try:
            shape = np.shape(y)
        except (ValueError, TypeError):
            return 0
    return int(shape[0]) if len(shape) >= 1 else 0
