"""xpnet: neural networks from scratch, written once against the Python array API standard.

The same MLP, loss, regularizer and optimizer code runs on NumPy (CPU), CuPy
(CUDA), PyTorch (CPU or CUDA) and any other array-API library. Gradients are
derived by hand and checked against finite differences on every backend.

Importing xpnet imports no optional backend (CuPy, PyTorch) until one is asked for.
"""

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    # What the lazy ``__getattr__`` below returns, spelled out for type checkers
    # and IDEs; at run time these load on first use (``import xpnet`` stays light).
    from . import bench as bench
    from . import cli as cli
    from . import compile as compile
    from . import datasets as datasets
    from . import distributed as distributed
    from . import estimator as estimator
    from . import estimators as estimators
    from . import exceptions as exceptions
    from . import export as export
    from . import io as io
    from . import plot as plot
    from . import step as step
    from . import train as train
    from . import validation as validation
    from .estimators import MLPClassifier as MLPClassifier
    from .estimators import MLPRegressor as MLPRegressor
    from .exceptions import ConvergenceWarning as ConvergenceWarning
    from .exceptions import NotFittedError as NotFittedError


def __getattr__(name: str) -> Any:
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
