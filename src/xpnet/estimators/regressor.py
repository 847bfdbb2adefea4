"""MLPRegressor: identity outputs and the squared loss, over ``BaseMLP``.

The objective is (1/2n) sum_i ||o_a,i - y_i||^2 + the penalty (eq. (2.19)),
its gradient with respect to the outputs (o_a - y) / n (eq. (2.20)); both are
``losses.squared_error_loss``. As in scikit-learn, the reported ``loss_`` and
``loss_curve_`` (and the ``tol`` test on them) divide the data term by the
number of outputs; the gradient does not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import io as _io
from ..backend import to_numpy
from ..losses import squared_error_loss
from ..validation import check_sample_weight, check_targets
from .base import BaseMLP, like_input

__all__ = ["MLPRegressor"]


class MLPRegressor(BaseMLP):
    """Multilayer perceptron regressor on any array-API backend.

    Identity outputs, squared loss; y of shape (n,) or (n, n_outputs). The
    parameters are ``BaseMLP``'s: scikit-learn's names, defaults and meanings,
    and xpnet's ``l1``, ``l2``, ``standardize``, ``backend``, ``dtype``,
    ``compile``, ``allow_tf32``, ``on_divergence``.

    Attributes after fit, beside ``BaseMLP``'s: ``out_activation_``
    (``"identity"``); ``validation_scores_`` are R^2; ``score`` is R^2.

    Example:
        >>> import numpy as np
        >>> from xpnet import MLPRegressor
        >>> X = np.linspace(-1, 1, 200)[:, None]
        >>> reg = MLPRegressor((32,), max_iter=500, learning_rate_init=0.01,
        ...                    backend="numpy", random_state=0).fit(X, X[:, 0] ** 2)
        >>> reg.score(X, X[:, 0] ** 2) > 0.9
        True
    """

    _estimator_type = "regressor"
    _metric = "r2"
    out_activation_ = "identity"

    def _loss(self) -> Any:
        return squared_error_loss(self._n_outputs())

    def _n_outputs(self) -> int:
        return int(self._n_targets)

    def _fit_targets(self, y: Any, n: int, reset: bool) -> tuple[np.ndarray, None]:
        targets = check_targets(y, n, float32=self.dtype == "float32")
        self._target_ndim = targets.ndim
        self._n_targets = 1 if targets.ndim == 1 else int(targets.shape[1])
        return targets.reshape(n, -1), None

    def _eval_targets(self, y: Any, n: int, name: str) -> np.ndarray:
        targets = check_targets(y, n, name, float32=self.dtype == "float32").reshape(n, -1)
        if targets.shape[1] != self._n_outputs():
            raise ValueError(
                f"{name}: has {targets.shape[1]} outputs, the training targets {self._n_outputs()}"
            )
        return targets

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over ``(X, y)`` in minibatches, continuing from ``params_``."""

        def targets(n: int, first: bool) -> np.ndarray:
            t = check_targets(y, n, float32=self.dtype == "float32")
            k = 1 if t.ndim == 1 else int(t.shape[1])
            if first:
                self._target_ndim, self._n_targets = t.ndim, k
            elif k != self._n_outputs():
                raise ValueError(f"y: has {k} outputs, the model {self._n_outputs()}")
            return t.reshape(n, -1)

        return self._partial_fit(X, targets, sample_weight)

    def predict(self, X: Any) -> Any:
        """Predictions o_a, shape (n,) for a 1-D training y else (n, n_outputs), in X's namespace."""
        out = self._outputs(X, "predict")
        if self._target_ndim == 1:
            out = out[:, 0]
        return like_input(out, X)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 of ``predict(X)`` (averaged uniformly over the outputs, as scikit-learn's r2_score)."""
        pred = np.asarray(to_numpy(self.predict(X)), dtype=np.float64)
        n = pred.shape[0]
        truth = check_targets(y, n).reshape(n, -1)
        pred = pred.reshape(n, -1)
        if truth.shape[1] != pred.shape[1]:
            raise ValueError(f"y: has {truth.shape[1]} outputs, the model {pred.shape[1]}")
        w = check_sample_weight(sample_weight, n)
        w = np.ones(n) if w is None else w
        mean = np.average(truth, axis=0, weights=w)
        ss_res = (w[:, None] * (truth - pred) ** 2).sum(axis=0)
        ss_tot = (w[:, None] * (truth - mean) ** 2).sum(axis=0)
        # scikit-learn's rule for constant targets: 1 when predicted exactly, else 0
        safe = np.where(ss_tot > 0, ss_tot, 1.0)
        r2 = np.where(ss_tot > 0, 1.0 - ss_res / safe, np.where(ss_res == 0, 1.0, 0.0))
        return float(np.mean(r2))

    # ------------------------------------------------------------------ files

    def _meta(self, sizes: Any) -> dict:
        return {**super()._meta(sizes), "target_ndim": int(self._target_ndim)}

    @classmethod
    def load(cls, path: str | Path, backend: Any = "auto") -> MLPRegressor:
        """Read a regressor written by ``save`` onto ``backend`` (untrusted: checked, never unpickled).

        It comes back with its input standardisation (``standardizer_``), if any.
        """
        meta, arrays = _io.read_archive(path, _io.MODEL_FORMAT)
        if meta.get("estimator") != "MLPRegressor":
            raise ValueError(
                f"{path}: the file holds an {meta.get('estimator', 'MLPClassifier')}, "
                "not an MLPRegressor"
            )
        sizes = _io.check_sizes(path, meta)
        dtype = meta.get("dtype")
        if dtype not in ("float32", "float64"):
            raise ValueError(f"{path}: metadata 'dtype' must be float32 or float64, got {dtype!r}")
        ndim = meta.get("target_ndim")
        if ndim not in (1, 2) or (ndim == 1 and sizes[-1] != 1):
            raise ValueError(f"{path}: metadata 'target_ndim' must be 1 (one output) or 2")
        arrays, standardizer = cls._split_standardizer(path, meta, arrays)
        params = _io.params_from_arrays(path, arrays, sizes, dtype)
        if arrays:
            raise ValueError(f"{path}: unexpected arrays {sorted(arrays)} in a model file")
        reg = cls._from_meta(path, meta, backend, params, standardizer)
        reg._target_ndim, reg._n_targets = ndim, sizes[-1]
        reg.n_outputs_ = sizes[-1]
        return reg
