"""The estimators' former home, kept so that ``from xpnet.estimator import ...`` still works.

They live in ``xpnet.estimators`` (``base``, ``classifier``, ``regressor``).
"""

from .estimators import BaseMLP, MLPClassifier, MLPRegressor, NotFittedError, check_params

__all__ = ["BaseMLP", "MLPClassifier", "MLPRegressor", "NotFittedError", "check_params"]
