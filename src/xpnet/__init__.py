"""xpnet: neural networks from scratch, written once against the Python array API standard.

The same MLP, loss, regularizer and optimizer code runs on NumPy (CPU), CuPy
(CUDA), PyTorch (CPU or CUDA) and any other array-API library. Gradients are
derived by hand and checked against finite differences on every backend.

Importing xpnet imports no optional backend (CuPy, PyTorch) until one is asked for.
"""

from . import functional, losses, mlp, optim, regularizers
from . import gradcheck as _gradcheck_module
from ._version import __version__
from .backend import (
    Backend,
    BackendUnavailableError,
    available_backends,
    get_backend,
    to_numpy,
)
from .gradcheck import GradcheckReport, gradcheck
from .train import DivergenceError

__all__ = [
    "__version__",
    "Backend",
    "BackendUnavailableError",
    "DivergenceError",
    "GradcheckReport",
    "MLPClassifier",
    "MLPRegressor",
    "NotFittedError",
    "ConvergenceWarning",
    "exceptions",
    "available_backends",
    "functional",
    "get_backend",
    "gradcheck",
    "losses",
    "mlp",
    "optim",
    "regularizers",
    "to_numpy",
]

del _gradcheck_module


def __getattr__(name: str):
    # the estimator (and what it pulls in) loads on first use
    if name in ("MLPClassifier", "MLPRegressor"):
        from . import estimators

        return getattr(estimators, name)
    if name in ("NotFittedError", "ConvergenceWarning"):
        from . import exceptions

        return getattr(exceptions, name)
    if name in (
        "datasets",
        "io",
        "train",
        "step",
        "estimator",
        "estimators",
        "exceptions",
        "validation",
        "bench",
        "plot",
        "cli",
        "export",
        "distributed",
        "compile",
    ):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'xpnet' has no attribute {name!r}")
