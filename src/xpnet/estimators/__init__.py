"""xpnet's estimators: ``MLPClassifier`` and ``MLPRegressor`` over one base, ``BaseMLP``.

* ``base``: fitting, partial_fit, warm start, checkpoints and resuming,
  early stopping, streaming, prediction in chunks, saving;
* ``classifier``: softmax outputs, cross-entropy, labels;
* ``regressor``: identity outputs, the squared loss.
"""

from ..exceptions import NotFittedError
from .base import BaseMLP, check_params
from .classifier import MLPClassifier
from .regressor import MLPRegressor

__all__ = ["BaseMLP", "MLPClassifier", "MLPRegressor", "NotFittedError", "check_params"]
