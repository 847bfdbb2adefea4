"""xpnet's warnings and errors, in one place.

* ``ConvergenceWarning``: ``max_iter`` ended a run that had not converged.
* ``DataConversionWarning``: the input was converted (a column-shaped y ravelled).
* ``NotFittedError``: an estimator was used before ``fit`` (a ``ValueError``
  and an ``AttributeError``, as scikit-learn's).
* ``DivergenceError``: the loss became NaN or inf (a ``FloatingPointError``).
* ``NonFiniteOutputError``: a prediction would be NaN or inf (a ``ValueError``).
* ``BackendUnavailableError``: a known backend cannot run here (a ``RuntimeError``).

When scikit-learn is installed, the warnings the estimators emit are also
instances of scikit-learn's classes of the same name, so that its filters
and ``pytest.warns(sklearn.exceptions.ConvergenceWarning)`` see them:
the combined class is built when the warning is issued, the only moment
scikit-learn is imported. ``NotFittedError`` does the same when scikit-learn
is already loaded (without importing it). Catch or filter the xpnet classes:
they are the bases of what is raised or emitted either way.
"""

from __future__ import annotations

import sys

from .backend import BackendUnavailableError
from .train import DivergenceError

__all__ = [
    "ConvergenceWarning",
    "DataConversionWarning",
    "NotFittedError",
    "DivergenceError",
    "NonFiniteOutputError",
    "BackendUnavailableError",
    "convergence_warning",
    "data_conversion_warning",
    "not_fitted_error",
]


class ConvergenceWarning(UserWarning):
    """The optimizer reached ``max_iter`` before the stopping rule was met."""


class DataConversionWarning(UserWarning):
    """The input was converted to what the estimator needs (e.g. y.ravel())."""


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (same bases as scikit-learn's)."""


class NonFiniteOutputError(ValueError):
    """``predict`` / ``predict_proba`` would answer NaN or inf instead of a number.

    The network's outputs overflow for some rows of X (too large inputs, or
    parameters that diverged) even when recomputed in float64: refused, rather
    than answered in silence. The message names the rows and the largest
    input and parameter.
    """


_COMBINED: dict = {}


def _combined(ours: type, theirs: type | None) -> type:
    """A class deriving from both ``ours`` and scikit-learn's ``theirs`` (cached), or ``ours``."""
    if theirs is None:
        return ours
    key = (ours, theirs)
    if key not in _COMBINED:
        _COMBINED[key] = type(ours.__name__, (ours, theirs), {"__module__": __name__})
    return _COMBINED[key]


def _sklearn_class(name: str, import_it: bool) -> type | None:
    module = sys.modules.get("sklearn.exceptions")
    if module is None and import_it:
        try:
            import sklearn.exceptions

            module = sklearn.exceptions
        except ImportError:
            return None
    return getattr(module, name, None)


def convergence_warning(message: str) -> ConvergenceWarning:
    """A ``ConvergenceWarning`` (also scikit-learn's when it is installed) to pass to ``warn``."""
    cls = _combined(ConvergenceWarning, _sklearn_class("ConvergenceWarning", True))
    return cls(message)


def data_conversion_warning(message: str) -> DataConversionWarning:
    """A ``DataConversionWarning`` (also scikit-learn's when it is installed)."""
    cls = _combined(DataConversionWarning, _sklearn_class("DataConversionWarning", True))
    return cls(message)


def not_fitted_error(message: str) -> NotFittedError:
    """A ``NotFittedError``; while scikit-learn is loaded, also an instance of its own."""
    return _combined(NotFittedError, _sklearn_class("NotFittedError", False))(message)
