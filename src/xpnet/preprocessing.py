"""The input standardisation an estimator learns in ``fit`` and keeps in its model file.

``Standardizer`` maps each feature x_j to (x_j - mean_j) / scale_j. With
``standardize=True`` an estimator learns it in ``fit`` and applies it in
every ``predict`` / ``score`` / export, and ``save`` writes it into the model
file, so a model file alone predicts on the raw features.

The rules:

* the statistics are learned on the host in float64, in one pass over X in
  blocks of rows (``BLOCK_ELEMENTS`` values each), so a memory-mapped or
  streamed X is never loaded whole; the blocks are combined with Chan et al.'s
  update of the mean and the sum of squared deviations, so one block gives
  exactly NumPy's ``X.mean(axis=0)`` and ``X.std(axis=0)`` (the population
  standard deviation, as scikit-learn's ``StandardScaler``);
* a feature of zero variance gets scale 1, so it maps to 0; zero up to
  rounding, by scikit-learn's ``StandardScaler`` bound ``var <= n eps var +
  (n eps mean)^2`` (n rows, eps of float64), as a constant column's computed
  variance is rarely exactly 0;
* the map is applied in float64 and the result is cast to the dtype the model
  computes in; a memory-mapped X is standardised a minibatch at a time on its
  way to the device (``StandardizedRows``), never as a whole copy, with the
  same numbers as an X in memory;
* statistics can also be given (``Standardizer.from_stats``), e.g. pixels
  divided by 255: ``from_stats(0.0, 255.0, n_features)``; an estimator given
  such a standardizer as ``standardize`` applies it as it is, unlearned.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import HostRows, gather_rows, release_host_pages, to_numpy

__all__ = ["Standardizer", "BLOCK_ELEMENTS"]

#: Values per block of rows (rows times features) as statistics are learned or applied, 32 MiB of float64.
BLOCK_ELEMENTS = 1 << 22

_EPS = float(np.finfo(np.float64).eps)


def _block_rows(n_features: int) -> int:
    return max(1, BLOCK_ELEMENTS // max(1, n_features))


class Standardizer:
    """Per-feature standardisation ``x -> (x - mean_) / scale_``, in float64 on the host.

    Attributes after ``fit`` (or ``from_stats``):
        mean_: float64 (n_features,), the per-feature mean (the given offset).
        scale_: float64 (n_features,), the per-feature standard deviation, 1 for a
            feature of zero variance (the given scale).
        var_: float64 (n_features,), the per-feature variance; None when given (or
            read from a model file, which keeps only the mean and the scale).
        n_samples_seen_: the number of rows it was learned from (0 when given);
            the statistics are weighted when ``fit`` is given ``sample_weight``.
        n_features_in_: the number of features.
        learned: True when learned by ``fit``, False when given to ``from_stats``.

    Example:
        >>> import numpy as np
        >>> from xpnet.preprocessing import Standardizer
        >>> s = Standardizer().fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
        >>> s.mean_.tolist(), s.scale_.tolist()
        ([2.0, 5.0], [1.0, 1.0])
        >>> s.transform(np.array([[3.0, 6.0]])).tolist()
        [[1.0, 1.0]]
    """

    mean_: np.ndarray
    scale_: np.ndarray
    var_: np.ndarray | None
    n_samples_seen_: int
    n_features_in_: int
    learned: bool

    def fit(self, X: Any, sample_weight: Any = None) -> Standardizer:
        """Learn the mean and scale of each column of ``X`` (n, d) in one pass, in blocks.

        Args:
            X: any backend's 2-D array or a memory-mapped array (blocks of rows are
                copied to the host one at a time).
            sample_weight: one weight >= 0 per row (a weight of 2 counts the row
                twice), or None: the weighted mean and variance, as scikit-learn's
                ``StandardScaler`` computes them. All-zero weights count every row once.

        Returns:
            self.
        """
        shape = tuple(X.shape)
        if len(shape) != 2 or shape[0] < 1 or shape[1] < 1:
            raise ValueError(
                f"X: expected a non-empty 2-D array (n_samples, n_features), got {shape}"
            )
        n, d = int(shape[0]), int(shape[1])
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w is not None and (w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0)):
            raise ValueError(f"sample_weight: expected {n} finite weights >= 0, one per row")
        if w is not None and not w.sum() > 0:
            w = None
        step = _block_rows(d)
        count = 0.0
        mean = np.zeros(d)
        m2 = np.zeros(d)
        for start in range(0, n, step):
            stop = min(start + step, n)
            block = np.asarray(to_numpy(gather_rows(X, slice(start, stop))), dtype=np.float64)
            if w is None:
                k = float(block.shape[0])
                block_mean = block.mean(axis=0)
                block_m2 = ((block - block_mean) ** 2).sum(axis=0)
            else:
                bw = w[start:stop, None]
                k = float(bw.sum())
                if k == 0:
                    continue
                block_mean = (bw * block).sum(axis=0) / k
                block_m2 = (bw * (block - block_mean) ** 2).sum(axis=0)
            if count == 0:
                mean, m2 = block_mean, block_m2
            else:  # Chan, Golub and LeVeque's pairwise update (weights as counts)
                total = count + k
                delta = block_mean - mean
                mean = mean + delta * (k / total)
                m2 = m2 + block_m2 + delta**2 * (count * k / total)
            count += k
            release_host_pages(X)  # a memory-mapped X does not stay resident
        var = m2 / count
        scale = np.sqrt(var)
        # zero variance up to rounding, by scikit-learn's bound (0 <= 0 included)
        constant = var <= n * _EPS * var + (n * mean * _EPS) ** 2
        scale[constant] = 1.0
        self.mean_, self.scale_, self.var_ = mean, scale, var
        self.n_samples_seen_, self.n_features_in_, self.learned = n, d, True
        return self

    @classmethod
    def from_stats(cls, mean: Any, scale: Any, n_features: int | None = None) -> Standardizer:
        """A standardizer with given statistics (scalars are repeated for ``n_features``).

        Raises:
            ValueError: the statistics are not finite, a scale is not positive, or
                their lengths disagree (with each other or with ``n_features``).
        """
        mean = np.asarray(mean, dtype=np.float64)
        scale = np.asarray(scale, dtype=np.float64)
        lengths = {int(a.shape[0]) for a in (mean, scale) if a.ndim == 1}
        if n_features is not None:
            lengths.add(int(n_features))
        if mean.ndim > 1 or scale.ndim > 1 or len(lengths) != 1:
            raise ValueError(
                f"mean, scale: expected scalars or 1-D arrays of one length (n_features="
                f"{n_features}), got shapes {mean.shape} and {scale.shape}"
            )
        d = lengths.pop()
        if d < 1:
            raise ValueError("mean, scale: need at least one feature")
        mean, scale = np.broadcast_to(mean, (d,)).copy(), np.broadcast_to(scale, (d,)).copy()
        if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(scale))):
            raise ValueError("mean, scale: must be finite")
        if not np.all(scale > 0):
            raise ValueError("scale: must be positive")
        self = cls()
        self.mean_, self.scale_, self.var_ = mean, scale, None
        self.n_samples_seen_, self.n_features_in_, self.learned = 0, d, False
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "mean_"):
            raise ValueError("Standardizer: not fitted; call fit(X) or use from_stats first")

    def transform(self, X: Any, dtype: Any = "float64") -> np.ndarray:
        """``(X - mean_) / scale_`` computed in float64, returned as a host array of ``dtype``.

        ``X`` of shape ``(n, n_features_in_)``: any backend's array, or rows of a memory-mapped
        file; processed in blocks of rows (one float64 block at a time beside the result).
        """
        self._check_fitted()
        shape = tuple(X.shape)
        if len(shape) != 2 or shape[1] != self.n_features_in_:
            raise ValueError(
                f"X: has shape {shape}; the standardisation was learned for "
                f"{self.n_features_in_} features"
            )
        n = int(shape[0])
        out = np.empty((n, self.n_features_in_), dtype=np.dtype(dtype))
        step = _block_rows(self.n_features_in_)
        for start in range(0, n, step):
            stop = min(start + step, n)
            block = np.asarray(to_numpy(gather_rows(X, slice(start, stop))), dtype=np.float64)
            out[start:stop] = (block - self.mean_) / self.scale_
        return out

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """``Z * scale_ + mean_`` in float64 (the features before standardisation)."""
        self._check_fitted()
        return np.asarray(to_numpy(Z), dtype=np.float64) * self.scale_ + self.mean_

    def __repr__(self) -> str:
        if not hasattr(self, "mean_"):
            return "Standardizer()"
        how = f"learned from {self.n_samples_seen_} rows" if self.learned else "given"
        return f"Standardizer(n_features={self.n_features_in_}, {how})"


class StandardizedRows(HostRows):
    """Rows of a host array (a memory map, or ``HostRows`` of one), standardised as read.

    ``StandardizedRows(source, standardizer, dtype)[key]`` is
    ``standardizer.transform(source[key], dtype)``: a minibatch is read from the
    file and standardised on its way to the device; no standardised copy of the
    whole array is ever made. Counts as out-of-core data (``is_out_of_core``),
    and ``release_host_pages`` releases the underlying map.
    """

    def __init__(self, source: Any, standardizer: Standardizer, dtype: Any) -> None:
        self.source = source
        self.base = source.base if isinstance(source, HostRows) else source
        self.rows = getattr(source, "rows", None)  # type: ignore[assignment]  # None: every row
        self.standardizer = standardizer
        self.shape = tuple(int(s) for s in source.shape)
        self.dtype = np.dtype(dtype)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            rows = np.asarray(self.source[key])
        else:  # read from the file, not through the map (see backend.gather_rows)
            rows = np.asarray(gather_rows(self.source, key))
        if rows.ndim == 1:  # one row
            return self.standardizer.transform(rows[None, :], self.dtype)[0]
        return self.standardizer.transform(rows, self.dtype)


class GivenStandardizer:
    """Validation constraint: a fitted ``Standardizer`` (statistics given, applied as they are)."""

    def type_ok(self, value: Any) -> bool:
        return isinstance(value, Standardizer)

    def accepts(self, value: Any) -> bool:
        return isinstance(value, Standardizer) and hasattr(value, "mean_")

    def describe(self) -> str:
        return "a fitted xpnet.preprocessing.Standardizer (e.g. Standardizer.from_stats(0, 255, d))"
