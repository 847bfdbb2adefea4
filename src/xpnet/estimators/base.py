"""The base of xpnet's estimators: fitting, partial_fit, warm start, checkpoints, prediction, files.

``BaseMLP`` holds everything the classifier and the regressor share; each of
them adds its loss, its targets and its outputs (``classifier.py``,
``regressor.py``). Every parameter shared with scikit-learn's
``MLPClassifier`` / ``MLPRegressor`` has its name, default and meaning; the
table of differences is in the README.

The training itself is ``train.train`` over one pure step (``step.build_step``);
argument and data checks are ``validation``'s; file formats are ``io``'s.
scikit-learn is imported only by its own machinery (tags) and when a
warning is issued (see ``exceptions``).
"""

from __future__ import annotations

import copy
import dataclasses
import errno
import inspect
import math
import numbers
import os
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import array_api_compat
import numpy as np

from .. import distributed as _distributed
from .. import io as _io
from .. import optim
from .._version import __version__
from ..backend import (
    Backend,
    BackendUnavailableError,
    HostRows,
    gather_rows,
    get_backend,
    host_rng,
    is_dask_array,
    is_out_of_core,
    release_every_rows,
    release_host_pages,
    spool_dask,
    to_numpy,
)
from ..compile import COMPILE_MODES
from ..exceptions import NonFiniteOutputError, convergence_warning, not_fitted_error
from ..functional import ACTIVATION_NAMES, get_activation
from ..mlp import forward, init_params, layer_sizes
from ..preprocessing import GivenStandardizer, StandardizedRows, Standardizer
from ..regularizers import per_layer
from ..step import StepSpec, build_step
from ..train import (
    Callbacks,
    DivergenceError,
    EpochData,
    TrainConfig,
    TrainState,
    check_eval_names,
    check_history,
    history_keys,
    train,
)
from ..validation import (
    Anything,
    Boolean,
    HiddenSizes,
    Interval,
    Options,
    PerLayer,
    RandomState,
    StrOptions,
    Verbose,
    check_feature_names,
    check_sample_weight,
    check_X,
    feature_names,
    n_test_samples,
    stratified_split,
    validate_params,
)

__all__ = ["BaseMLP", "check_params"]

_PREDICT_CHUNK = 8192
# Data use at most this fraction of the device's free memory; beyond it minibatches stream.
_DEVICE_MEMORY_FRACTION = 0.7

_Real, _Int = numbers.Real, numbers.Integral

#: The constructor's arguments and what each accepts (scikit-learn's, plus xpnet's own).
PARAMETER_CONSTRAINTS: dict = {
    "hidden_layer_sizes": [HiddenSizes()],
    "activation": [StrOptions(tuple(ACTIVATION_NAMES))],
    "solver": [
        StrOptions(
            ("adam", "sgd"),
            refused=(
                (
                    "lbfgs",
                    "xpnet trains by minibatch gradient descent only; use solver='adam' "
                    "(the default) or solver='sgd'",
                ),
            ),
        )
    ],
    "alpha": [Interval(_Real, 0, None, "left")],
    "batch_size": [StrOptions(("auto",)), Interval(_Int, 1, None, "left")],
    "learning_rate": [StrOptions(("constant", "invscaling", "adaptive"))],
    "learning_rate_init": [Interval(_Real, 0, None, "neither")],
    "power_t": [Interval(_Real, 0, None, "left")],
    "max_iter": [Interval(_Int, 1, None, "left")],
    "shuffle": [Boolean()],
    "random_state": [RandomState()],
    "tol": [Interval(_Real, 0, None, "left")],
    "verbose": [Verbose()],
    "warm_start": [Boolean()],
    "momentum": [Interval(_Real, 0, 1, "left")],
    "nesterovs_momentum": [Boolean()],
    "early_stopping": [Boolean()],
    "validation_fraction": [Interval(_Real, 0, 1, "neither")],
    "beta_1": [Interval(_Real, 0, 1, "left")],
    "beta_2": [Interval(_Real, 0, 1, "left")],
    "epsilon": [Interval(_Real, 0, None, "neither")],
    "n_iter_no_change": [Interval(_Int, 1, None, "left"), Options(frozenset({math.inf}))],
    "l1": [PerLayer()],
    "l2": [PerLayer()],
    "standardize": [Boolean(), GivenStandardizer()],
    "backend": [Anything()],
    "dtype": [StrOptions(("float32", "float64"))],
    "compile": [StrOptions(tuple(COMPILE_MODES))],
    "allow_tf32": [Boolean()],
    "on_divergence": [StrOptions(("raise", "halve_lr"))],
    "distributed": [Options(frozenset({None})), StrOptions(("mpi",))],
}

#: Settings a resumed run must share with its checkpoint (they decide the rest of the run).
_RESUME_SETTINGS = (
    "activation",
    "solver",
    "dtype",
    "alpha",
    "batch_size",
    "learning_rate_init",
    "learning_rate",
    "momentum",
    "nesterovs_momentum",
    "beta_1",
    "beta_2",
    "epsilon",
    "power_t",
    "l1",
    "l2",
    "shuffle",
    "tol",
    "n_iter_no_change",
    "early_stopping",
    "validation_fraction",
    "random_state",
)


def check_params(estimator: BaseMLP) -> None:
    """Check every constructor argument of ``estimator`` (what ``fit`` does first).

    Raises:
        TypeError: a value of the wrong type, naming the argument and what it accepts.
        ValueError: a value out of range, naming the argument, what it accepts and what it got.
    """
    estimator._check_params()


#: The estimator a method returns: the class it is called on (``Self``, Python 3.10-compatible).
_Est = TypeVar("_Est", bound="BaseMLP")


class BaseMLP:
    """What MLPClassifier and MLPRegressor share. Not for direct use.

    Parameters (scikit-learn's names, defaults and meanings):
        hidden_layer_sizes: widths of the hidden layers, e.g. ``(100,)`` or ``(100, 50)``.
        activation: hidden activation: ``relu`` (``rect``), ``tanh``, ``logistic``
            (``sigmoid``), ``identity``, and xpnet's ``softplus``, ``abs``.
        solver: ``"adam"`` or ``"sgd"`` (``"lbfgs"`` is refused).
        alpha: L2 penalty on the weights (not the biases): ``alpha / (2 B) ||W||^2``
            per minibatch of total sample weight B, as in scikit-learn.
        batch_size: rows per minibatch: an int, or ``"auto"`` = ``min(200, n_samples)``.
        learning_rate: the schedule (sgd): ``"constant"``; ``"invscaling"``: after each
            epoch ``learning_rate_init / (t_ + 1) ** power_t``; ``"adaptive"``: divided
            by 5 each time the patience runs out, until it is below 1e-6. Adam keeps
            ``learning_rate_init``.
        learning_rate_init: the initial step size (sgd and adam).
        power_t: exponent of ``"invscaling"``.
        max_iter: most epochs per ``fit`` call (a resumed fit counts the epochs
            its checkpoint already ran).
        shuffle: reshuffle the training rows each epoch.
        random_state: seed of the initial weights, the shuffling and the validation
            split: None (fresh each fit), an int, or a NumPy RandomState / Generator.
        tol: smallest improvement that counts (training loss, or the validation
            score with ``early_stopping``).
        verbose: print the backend and one line per epoch.
        warm_start: ``fit`` starts from ``params_`` (with a new optimizer, as
            scikit-learn does) instead of new random weights.
        momentum: sgd momentum in [0, 1).
        nesterovs_momentum: Nesterov's momentum (sgd, momentum > 0).
        early_stopping: hold out ``validation_fraction`` of the training data
            (stratified for the classifier), stop when its score (accuracy, R^2)
            stops improving and keep the best parameters.
        validation_fraction: the held-out share, in (0, 1).
        beta_1, beta_2, epsilon: Adam's decay rates and epsilon.
        n_iter_no_change: the patience: epochs without an improvement > ``tol``
            before stopping (an int, or ``numpy.inf`` for never).

    xpnet's own parameters:
        l1, l2: the derivation's elastic net (eq. (2.18)), one float or one per
            weight matrix, added once per minibatch objective on top of ``alpha``.
        standardize: False (the features as they are), True: ``fit`` learns each
            feature's mean and standard deviation (float64, on the host, in one
            pass, weighted by ``sample_weight``; zero-variance features get
            scale 1) into ``standardizer_``,
            and every ``predict`` / ``score`` / export applies them first; or a
            fitted ``xpnet.preprocessing.Standardizer`` (e.g.
            ``Standardizer.from_stats(0, 255, d)`` for pixels), applied as given.
            Learned on the first fit (and on each fit with ``warm_start=False``),
            from the first ``partial_fit`` call's rows; later warm fits and
            ``partial_fit`` calls keep them. ``save`` writes them into the model file.
        backend: where to train: ``"auto"``, ``"numpy"``, ``"torch:cpu"``,
            ``"jax:cpu"``, ``"cupy"``, ``"array_api_strict"``, a module or an array
            (see ``xpnet.get_backend``).
        dtype: ``"float32"`` or ``"float64"`` of the parameters and the outputs.
        compile: ``"auto"`` (jax.jit on JAX, eager elsewhere), ``"none"`` or
            ``"jit"`` (jax.jit on JAX, torch.compile on PyTorch).
        allow_tf32: TF32 tensor-core matmuls on CUDA (faster, less exact).
        on_divergence: ``"raise"`` (``DivergenceError``) or ``"halve_lr"``.
        distributed: None (one process) or ``"mpi"``: data-parallel training
            over the ranks of ``mpiexec`` / ``srun`` (every rank makes the same
            call with the same data; ``batch_size`` is the global minibatch;
            only rank 0 writes files). Without a launcher, one rank.

    Attributes after fit: ``params_`` (the one source of truth: ``[(W, b), ...]``
    with W of shape (out, in), on the backend; assigning it, or ``coefs_`` /
    ``intercepts_``, is what predict, partial_fit and a warm fit use),
    ``coefs_`` / ``intercepts_`` (scikit-learn's layout, W of shape (in, out)),
    ``loss_`` (the last epoch's), ``loss_curve_``, ``best_loss_``,
    ``validation_scores_``, ``best_validation_score_``, ``n_iter_`` (epochs of
    the last fit call), ``t_`` (samples seen, across warm starts),
    ``n_features_in_``, ``feature_names_in_`` (DataFrames), ``standardizer_``
    (the ``preprocessing.Standardizer`` that ``standardize`` learned or was
    given, with ``mean_`` and ``scale_``; None without), ``n_layers_``,
    ``n_outputs_``, ``out_activation_``, ``history_``, ``backend_``,
    ``stop_reason_``.
    """

    _parameter_constraints = PARAMETER_CONSTRAINTS
    _estimator_type = ""
    _metric = ""  # the history's metric: "error" or "r2"

    # Set by fit, partial_fit or load (their types, for type checkers; none exists before).
    params_: Any
    n_features_in_: int
    feature_names_in_: Any
    standardizer_: Standardizer | None
    history_: dict
    # private state derived from the public attributes (see _sync_private_state)
    _seed: Any
    _rng: Any
    _rng_for: Any
    _state: Any
    _opt_state: Any
    _opt_flat: Any
    _made_for: Any
    _checkpoint_epoch: int | None
    _backend_obj: Any
    _backend_key: Any
    _label_column_name: str | None

    def __init__(
        self,
        hidden_layer_sizes: int | Sequence[int] = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        alpha: float = 0.0001,
        batch_size: int | str = "auto",
        learning_rate: str = "constant",
        learning_rate_init: float = 0.001,
        power_t: float = 0.5,
        max_iter: int = 200,
        shuffle: bool = True,
        random_state: Any = None,
        tol: float = 1e-4,
        verbose: bool | int = False,
        warm_start: bool = False,
        momentum: float = 0.9,
        nesterovs_momentum: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        n_iter_no_change: int | float = 10,
        l1: float | Sequence[float] = 0.0,
        l2: float | Sequence[float] = 0.0,
        standardize: bool | Standardizer = False,
        backend: Any = "auto",
        dtype: str = "float32",
        compile: str = "auto",
        allow_tf32: bool = False,
        on_divergence: str = "raise",
        distributed: str | None = None,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.l1 = l1
        self.l2 = l2
        self.standardize = standardize
        self.backend = backend
        self.dtype = dtype
        self.compile = compile
        self.allow_tf32 = allow_tf32
        self.on_divergence = on_divergence
        self.distributed = distributed

    # ------------------------------------------------------------------ scikit-learn's protocol

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments as a dict."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self: _Est, **params: Any) -> _Est:
        """Set constructor arguments; an unknown name raises ValueError."""
        valid = set(self._get_param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"set_params: invalid parameter {key!r} for {type(self).__name__}; "
                    f"valid: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = []
        for name, value in self.get_params().items():
            try:
                same = bool(value == defaults.get(name))
            except Exception:
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):  # called by scikit-learn only, which is then loaded
        from sklearn.utils import ClassifierTags, RegressorTags, Tags, TargetTags

        regressor = self._estimator_type == "regressor"
        tags = Tags(
            estimator_type=self._estimator_type,
            target_tags=TargetTags(required=True, multi_output=regressor),
            classifier_tags=None if regressor else ClassifierTags(multi_label=False),
            regressor_tags=RegressorTags() if regressor else None,
        )
        tags.array_api_support = True
        tags.non_deterministic = self.random_state is None
        return tags

    def __sklearn_clone__(self: _Est) -> _Est:
        """An unfitted copy with the same parameters (a backend module is shared, not copied)."""
        import copy

        params = {
            key: value if key == "backend" and not isinstance(value, str) else copy.deepcopy(value)
            for key, value in self.get_params().items()
        }
        return type(self)(**params)

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "params_", None) is not None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_backend_obj", None)  # holds a module, which pickle refuses
        state.pop("_comm", None)  # an MPI communicator belongs to its process
        if not isinstance(self.backend, str):  # a module (or an array): pickle its spec
            state["backend"] = getattr(self, "backend_", None) or get_backend(self.backend).name
        if state.get("params_") is not None:  # device arrays: as NumPy, moved back on load
            state["params_"] = [(to_numpy(W), to_numpy(b)) for W, b in state["params_"]]
        opt_state = state.pop("_opt_state", None)
        state["_opt_flat"] = None
        if opt_state is not None:
            flat = optim.state_to_dict(opt_state)
            flat["slots"] = {k: [to_numpy(v) for v in vs] for k, vs in flat["slots"].items()}
            state["_opt_flat"] = flat
        state.pop("_state", None)
        made_for = state.pop("_made_for", None)
        if made_for is not None and _same_leaves(made_for[0], getattr(self, "params_", None)):
            state["_made_for"] = (None, made_for[1])  # re-made for the moved params_ on load
        else:
            state["_opt_flat"] = None  # params_ were assigned: the state was for others
        state.pop("_backend_key", None)
        return state

    def __setstate__(self, state: dict) -> None:
        flat = state.pop("_opt_flat", None)
        self.__dict__.update(state)
        self._opt_state = None
        self._state = None
        self._backend_obj = None
        if state.get("backend_") is not None:
            b = get_backend(state["backend_"])
            self._backend_obj, self._backend_key = b, _backend_key(self)
            if getattr(self, "params_", None) is not None:
                self.params_ = _params_to(b, self.params_, self.dtype)
            if flat is not None:
                self._opt_flat = flat  # rebuilt for the next partial_fit
        if (
            getattr(self, "_made_for", None) is not None
            and getattr(self, "params_", None) is not None
        ):
            # the same weights, moved: the optimizer state still belongs to them
            self._made_for = _made_for(self.params_, self._made_for[1])

    # ------------------------------------------------------------------ parameters

    def _check_params(self) -> None:
        validate_params(self._parameter_constraints, self.get_params(), type(self).__name__)
        n_weights = len(self._hidden_sizes()) + 1
        per_layer(self.l1, n_weights, "l1")
        per_layer(self.l2, n_weights, "l2")

    def _hidden_sizes(self) -> tuple[int, ...]:
        hls = self.hidden_layer_sizes
        if isinstance(hls, (int, numbers.Integral)):
            return (int(hls),)
        return tuple(int(s) for s in hls)

    def _resolve_backend(self) -> Backend:
        try:
            b = get_backend(self.backend)
        except BackendUnavailableError as e:  # say which argument asked for it
            raise BackendUnavailableError(f"backend={self.backend!r}: {e}") from e
        except (ValueError, TypeError) as e:
            raise type(e)(f"backend: {e}") from e
        b.set_tf32(bool(self.allow_tf32))
        return b

    # ------------------------------------------------------------------ params_ and sklearn's layout

    @property
    def coefs_(self) -> list:
        """The weight matrices in scikit-learn's layout, shape (in, out), on the backend."""
        self._check_fitted()
        params = self._device_params(self._current_backend())  # assigned lists included
        xp = array_api_compat.array_namespace(params[0][0])
        return [xp.permute_dims(W, (1, 0)) for W, _ in params]

    @coefs_.setter
    def coefs_(self, coefs: Sequence) -> None:
        old = getattr(self, "params_", None)
        biases = [b for _, b in old] if old is not None and len(old) == len(coefs) else None
        params = []
        for k, C in enumerate(coefs):
            W = np.asarray(to_numpy(C)).T
            keep = biases is not None and tuple(biases[k].shape) == W.shape[:1]
            bias = biases[k] if biases is not None and keep else np.zeros(W.shape[0], W.dtype)
            params.append((W, bias))
        self._set_params(params, "coefs_")

    @property
    def intercepts_(self) -> list:
        """The bias vectors, shape (out,), on the backend."""
        self._check_fitted()
        return [b for _, b in self._device_params(self._current_backend())]

    @intercepts_.setter
    def intercepts_(self, intercepts: Sequence) -> None:
        self._check_fitted()
        if len(intercepts) != len(self.params_):
            raise ValueError(
                f"intercepts_: expected {len(self.params_)} bias vectors, got {len(intercepts)}"
            )
        self._set_params(
            [
                (W, np.asarray(to_numpy(b)))
                for (W, _), b in zip(self.params_, intercepts, strict=True)
            ],
            "intercepts_",
        )

    def _set_params(self, params: list, name: str = "params_") -> None:
        """Assign ``params_``, checked at once: parameters that do not fit are refused by ``name``."""
        old = getattr(self, "params_", None)
        b = self._current_backend()
        self.params_ = _params_to(b, params, self.dtype)
        try:
            self._device_params(b)
        except (TypeError, ValueError) as error:
            if old is None:
                del self.params_
            else:
                self.params_ = old  # the model is left as it was
            raise type(error)(str(error).replace("params_:", f"{name}:", 1)) from None

    def _current_backend(self) -> Backend:
        """The backend ``backend`` and ``allow_tf32`` name now (resolved again when they change)."""
        b = getattr(self, "_backend_obj", None)
        if b is None or getattr(self, "_backend_key", None) != _backend_key(self):
            b = self._resolve_backend()
            self._backend_obj, self._backend_key = b, _backend_key(self)
        return b

    def _sync_private_state(self) -> None:
        """Make the private copies agree with the public attributes, or drop them.

        The optimizer state (``_opt_state``, or ``_opt_flat`` after unpickling)
        and the stopping record (``_state``: patience, best score, best
        parameters) belong to the weights they were trained with. When
        ``params_`` is no longer those weights (assigned, directly or through
        ``coefs_`` / ``intercepts_``, or loaded), they are dropped: the next
        partial_fit starts a new optimizer from ``params_``, and a warm fit's
        patience starts again (the epoch count and history go on). A change of
        backend or dtype moves them (they are converted where they are used);
        a change of solver is refused by partial_fit (see ``_optimizer_state``).
        Arrays are compared by identity: an in-place change of their values
        (``W[...] = 0``) is not seen as a new assignment.
        """
        params = getattr(self, "params_", None)
        made_for = getattr(self, "_made_for", None)
        if params is not None and made_for is not None and _same_leaves(made_for[0], params):
            return
        self._opt_state = None
        self._opt_flat = None
        self._made_for = None
        previous = getattr(self, "_state", None)
        if previous is not None:
            self._state = TrainState(
                params=None, opt_state=None, epoch=previous.epoch, history=previous.history
            )

    def _seeded_rng(self) -> Any:
        """The shuffling generator of the last run if ``random_state`` is still what seeded it."""
        rng = getattr(self, "_rng", None)
        if rng is None or not _same_random_state(
            getattr(self, "_rng_for", None), self.random_state
        ):
            return None
        return rng

    def _device_params(self, b: Backend) -> list:
        """``params_`` on ``b`` in the model's dtype, checked to be (W, b) pairs that chain."""
        params = self.params_
        if not isinstance(params, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in params
        ):
            raise TypeError("params_: expected a list of (W, b) pairs, W of shape (out, in)")
        if not params:
            raise ValueError("params_: expected at least one (W, b) pair, got an empty list")
        width = getattr(self, "n_features_in_", None)
        for k, (W, bias) in enumerate(params):
            shape, bshape = _shape_of(W), _shape_of(bias)
            if len(shape) != 2 or bshape != shape[:1] or (width is not None and shape[1] != width):
                expected = "(out, " + ("in" if width is None else str(width)) + ")"
                raise ValueError(
                    f"params_: layer {k} has W of shape {shape} and b of shape {bshape}; "
                    f"expected W of shape {expected} and b of shape (out,)"
                    + (" (the features or the previous layer's width)" if width is not None else "")
                )
            width = shape[0]
        try:
            outputs: int | None = self._n_outputs()
        except AttributeError:  # a classifier without classes_: nothing to compare with
            outputs = width
        if width != outputs:
            raise ValueError(
                f"params_: the last layer has {width} outputs, the model has {outputs} "
                "(its classes or targets); assign parameters with that many outputs"
            )
        return _params_to(b, params, self.dtype)

    # ------------------------------------------------------------------ what a subclass adds

    def _loss(self) -> Any:  # the losses.Loss
        raise NotImplementedError

    def _fit_targets(self, y: Any, n: int, reset: bool) -> tuple[np.ndarray, Any]:
        """(targets for training (class indices or float targets (n, k)), labels to stratify by)."""
        raise NotImplementedError

    def _eval_targets(self, y: Any, n: int, name: str) -> np.ndarray:
        raise NotImplementedError

    def _n_outputs(self) -> int:
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting

    def fit(
        self: _Est,
        X: Any,
        y: Any,
        sample_weight: Any = None,
        *,
        eval_sets: Mapping[str, tuple[Any, Any]] | None = None,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        on_batch: Any = None,
        on_epoch: Any = None,
        checkpoint_every: float = 0.0,
    ) -> _Est:
        """Train on ``(X, y)`` for up to ``max_iter`` epochs.

        Args:
            X: features (n_samples, n_features): any backend's array, a DataFrame
                or nested lists.
            y: the targets (labels for the classifier, numbers for the regressor).
            sample_weight: one weight per sample (a weight of 2 counts the row
                twice), or None.
            eval_sets: ``{"test": (X_test, y_test), ...}``, evaluated each epoch
                into ``history_``; never trained on.
            checkpoint: a path written atomically at epoch ends (see
                ``checkpoint_every``). It must name a file in an existing
                directory; the run holds the lock file ``checkpoint + ".lock"``
                and first removes the temporary files that killed writes of it left.
            resume: continue from ``checkpoint`` when that file exists; the
                checkpoint must have been written with the same settings and data
                (compared by their fingerprint, ``xpnet.io.data_fingerprint``).
            on_batch: ``f(batch_index, n_batches)`` after each minibatch (counts only).
            on_epoch: ``f(epoch, row)`` after each epoch, ``row`` being its ``history_`` row.
            checkpoint_every: seconds: at an epoch end, ``checkpoint`` is written only
                when this long has passed since its last write (0: at every epoch end);
                it is always written after the last epoch, and on an interrupt or a
                divergence it is written with the last finished epoch.

        Returns:
            self.

        Raises:
            ValueError: bad arguments or data (the message names which).
            TypeError: arguments or data of the wrong type.
            DivergenceError: the loss became NaN or inf; the last good parameters are kept.
            xpnet.io.CheckpointWriteError: the checkpoint could not be written (an
                ``OSError``: a full disk, a read-only file system); the message names
                the file, the epoch it still holds and how to resume.
            xpnet.io.CheckpointLockedError: another live process writes ``checkpoint``.
        """
        self._check_params()
        self._sync_private_state()
        _check_fit_args(eval_sets, checkpoint, resume, on_batch, on_epoch)
        if not isinstance(checkpoint_every, (int, float)) or not checkpoint_every >= 0:
            raise ValueError(
                f"checkpoint_every: expected a number of seconds >= 0, got {checkpoint_every!r}"
            )
        comm = self._communicator()
        if checkpoint is not None and comm.is_root:  # the one writer: the other ranks never write
            _check_checkpoint_path(checkpoint)
        b = self._resolve_backend()
        if comm.size > 1 and b.is_gpu and isinstance(self.backend, str):
            # each rank on a node takes its own GPU (not verified here: no GPU cluster)
            spec = {"cupy": "cupy", "torch": "torch:cuda", "jax": "jax:gpu"}[b.library]
            b = get_backend(_distributed.device_for_local_rank(spec, comm.local_rank))
        names = feature_names(X)
        X = check_X(_host_if_dask(X), float32=self.dtype == "float32")
        n, d = int(X.shape[0]), int(X.shape[1])
        warm = self.warm_start and self.__sklearn_is_fitted__()
        targets, strata = self._fit_targets(y, n, reset=not warm)
        weights = check_sample_weight(sample_weight, n)
        sizes = (d, *self._hidden_sizes(), self._n_outputs())
        fingerprint = None
        if checkpoint is not None and comm.is_root:  # every rank has the same data
            fingerprint = _io.data_fingerprint(X, targets, weights, dtype=self.dtype)
        ckpt = None
        if checkpoint is not None and resume:
            ckpt = self._read_checkpoint_on_root(comm, checkpoint, sizes, n, fingerprint)
            warm = warm and ckpt is None
        if warm and tuple(layer_sizes(self.params_)) != sizes:
            have = tuple(layer_sizes(self.params_))
            what = "hidden_layer_sizes" if have[0] == d and have[-1] == sizes[-1] else "X"
            raise ValueError(
                f"{what}: warm_start continues params_, whose layer sizes are {list(have)}; "
                f"these data and hidden_layer_sizes={self.hidden_layer_sizes!r} need "
                f"{list(sizes)}. Set hidden_layer_sizes={have[1:-1]!r} back (with data of "
                f"{have[0]} features), or warm_start=False to start over"
            )
        standardizer = self._standardizer_for(X, weights, keep=warm)
        # a warm start continues the shuffling sequence instead of replaying it, while
        # random_state is what seeded it (a new random_state seeds a new sequence)
        previous_rng = self._seeded_rng() if warm else None
        if ckpt is not None:
            seed = ckpt["seed"]
        elif previous_rng is not None and getattr(self, "_seed", None) is not None:
            seed = self._seed
        else:
            seed = self._draw_seed()
        rng = previous_rng if previous_rng is not None and ckpt is None else host_rng(seed)
        self._seed, self._rng, self._rng_for = seed, rng, self.random_state
        if self.verbose and comm.is_root:
            print(f"xpnet: training on {b.describe()}" + (f" [{b.note}]" if b.note else ""))
            if comm.size > 1:
                print(f"xpnet: data-parallel over {comm.describe()}")

        # the validation split is drawn first from the seed, so a resumed run redraws it
        train_rows = val_rows = None
        if self.early_stopping:
            train_rows, val_rows = self._validation_split(n, rng, strata)
        checked_evals = {
            str(name): self._check_eval(name, pair, d) for name, pair in (eval_sets or {}).items()
        }
        stream = self._must_stream(b, X, *(Xe for Xe, _ in checked_evals.values()))
        train_data = self._epoch_data(b, X, targets, weights, train_rows, stream, standardizer)
        validation = (
            self._epoch_data(b, X, targets, None, val_rows, stream, standardizer)
            if self.early_stopping
            else None
        )
        evals = {
            name: self._epoch_data(b, Xe, te, None, None, stream, standardizer)
            for name, (Xe, te) in checked_evals.items()
        }
        n_train = train_data.n
        batch = self._batch(n_train)

        if ckpt is not None:
            _check_history_columns(
                checkpoint, ckpt["state"].history, validation, evals, self._metric
            )
            state = ckpt["state"]
            run_start, t_start = ckpt["run_start"], ckpt["t_start"]
            opt = self._optimizer(n_train, batch, t_start)
            state.params = _params_to(b, state.params, self.dtype)
            if state.best_params is not None:
                state.best_params = _params_to(b, state.best_params, self.dtype)
            state.opt_state = optim.state_from_dict(
                opt, state.opt_state, lambda leaf: b.asarray(leaf, self.dtype)
            )
            loss_curve, val_scores = [], []
        elif warm:
            t_start = int(getattr(self, "t_", 0))
            opt = self._optimizer(n_train, batch, t_start)  # a new optimizer, as scikit-learn
            params = self._device_params(b)
            state = self._continued_state(params, opt.init(params), validation, evals)
            run_start = state.epoch
            loss_curve = list(getattr(self, "loss_curve_", None) or [])
            val_scores = list(getattr(self, "validation_scores_", None) or [])
        else:
            t_start = run_start = 0
            opt = self._optimizer(n_train, batch, 0)
            params = init_params(
                sizes, self.activation, b.xp, b.device, self.dtype, rng, name="hidden_layer_sizes"
            )
            state = TrainState(params=params, opt_state=opt.init(params))
            loss_curve, val_scores = [], []
        self._adopt_data(b, d, names, X, standardizer)
        on_checkpoint = None
        if checkpoint is not None:
            path = Path(checkpoint)

            last_epoch = run_start + int(self.max_iter)
            written: dict[str, Any] = {"at": time.monotonic(), "pending": None}

            def write(st: TrainState) -> None:
                if comm.is_root:  # one writer
                    try:
                        self._write_checkpoint(
                            path, st, seed, sizes, n, run_start, t_start, fingerprint
                        )
                    except _io.WriteError as e:
                        raise _checkpoint_write_error(
                            path, e, getattr(self, "_checkpoint_epoch", None)
                        ) from e
                self._checkpoint_epoch = st.epoch  # only once the file is in place
                written["at"], written["pending"] = time.monotonic(), None

            def on_checkpoint(st: TrainState) -> None:
                due = time.monotonic() - written["at"] >= checkpoint_every
                if due or st.stopped or st.epoch >= last_epoch:
                    write(st)
                else:
                    written["pending"] = st.epoch

            def flush(st: TrainState) -> None:
                """After an interrupt: write the last finished epoch, if it is unwritten."""
                if written["pending"] is not None and written["pending"] == st.epoch:
                    write(st)

            on_checkpoint.flush = flush  # type: ignore[attr-defined]

        self._checkpoint_epoch = None if ckpt is None else state.epoch
        first_row = 0 if ckpt is not None else len(state.history.get("train_loss", []))
        self._state = None  # set again by the run; a run that cannot start leaves it None
        lock = (
            None
            if checkpoint is None
            else _lock_checkpoint(comm, Path(checkpoint), self._checkpoint_epoch)
        )
        try:
            self._run(
                state,
                train_data,
                b,
                rng,
                opt,
                batch,
                run_start + int(self.max_iter),
                validation,
                evals,
                Callbacks(on_batch, on_epoch, on_checkpoint),
                checkpoint,
            )
        finally:  # also after a divergence or an interrupt: the attributes match params_
            if lock is not None:
                lock.release()
            if self._state is not None:
                self._finish(
                    self._state, run_start, t_start, n_train, first_row, loss_curve, val_scores
                )
        if not state.stopped and self.n_iter_ == self.max_iter:
            warnings.warn(
                convergence_warning(
                    f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and "
                    "the optimization hasn't converged yet."
                ),
                stacklevel=2,
            )
        return self

    def _partial_fit(self: _Est, X: Any, targets_of: Any, sample_weight: Any) -> _Est:
        """One epoch over ``(X, y)`` continuing from ``params_`` and the optimizer's state."""
        self._check_params()
        self._sync_private_state()
        if self.early_stopping:
            raise ValueError(
                "early_stopping: partial_fit does not support early_stopping=True; "
                "set early_stopping=False"
            )
        b = self._resolve_backend()
        names = feature_names(X)
        X = check_X(_host_if_dask(X), float32=self.dtype == "float32")
        n, d = int(X.shape[0]), int(X.shape[1])
        first = not self.__sklearn_is_fitted__()
        if not first:
            self._check_features(X, names)
        targets = targets_of(n, first)
        weights = check_sample_weight(sample_weight, n)
        standardizer = self._standardizer_for(X, weights, keep=not first)
        train_data = self._epoch_data(
            b, X, targets, weights, None, self._must_stream(b, X), standardizer
        )
        batch = self._batch(n)
        sizes = (d, *self._hidden_sizes(), self._n_outputs())
        t_start = 0 if first else int(getattr(self, "t_", 0))
        opt = self._optimizer(n, batch, t_start, incremental=not first)
        if first:
            self._seed = self._draw_seed()
            self._rng, self._rng_for = host_rng(self._seed), self.random_state
            params = init_params(
                sizes,
                self.activation,
                b.xp,
                b.device,
                self.dtype,
                self._rng,
                name="hidden_layer_sizes",
            )
            state = TrainState(params=params, opt_state=opt.init(params))
            loss_curve: list = []
        else:
            params = self._device_params(b)
            have = tuple(layer_sizes(params))
            if have != sizes:
                raise ValueError(
                    f"hidden_layer_sizes: partial_fit continues params_, whose hidden layers "
                    f"are {list(have[1:-1])}, but hidden_layer_sizes={self.hidden_layer_sizes!r}; "
                    f"set hidden_layer_sizes={have[1:-1]!r} to match them, or call fit (with "
                    "warm_start=False) to start over with the new sizes"
                )
            state = self._continued_state(params, self._optimizer_state(opt, b, params), None, {})
            loss_curve = list(getattr(self, "loss_curve_", None) or [])
            if self._seeded_rng() is None:
                seed = getattr(self, "_seed", None)
                if seed is None or getattr(self, "_rng", None) is not None:
                    seed = self._draw_seed()  # none yet, or random_state changed since
                self._seed, self._rng, self._rng_for = seed, host_rng(seed), self.random_state
        self._adopt_data(
            b, d, names if first else getattr(self, "feature_names_in_", None), X, standardizer
        )
        first_row = len(state.history.get("train_loss", []))
        run_start = state.epoch
        self._state = None
        try:
            self._run(
                state,
                train_data,
                b,
                self._rng,
                opt,
                batch,
                run_start + 1,
                None,
                {},
                Callbacks(),
                None,
            )
        finally:
            if self._state is not None:
                self._finish(self._state, run_start, t_start, n, first_row, loss_curve, [])
        return self

    def _optimizer_state(self, opt: optim.Optimizer, b: Backend, params: list) -> Any:
        """The last run's optimizer state rebuilt for ``opt`` on ``b`` (partial_fit continues it).

        A new one when there is none (after ``load``, or once ``params_`` was
        assigned); moved to ``b`` and the model's dtype when those changed. A
        state of another solver cannot be continued: a ValueError says so.
        """
        flat = getattr(self, "_opt_flat", None)
        if getattr(self, "_opt_state", None) is not None:
            flat = optim.state_to_dict(self._opt_state)
        if flat is None:
            return opt.init(params)
        made_for = getattr(self, "_made_for", None)
        if made_for is not None and made_for[1] != self.solver:
            raise ValueError(
                f"solver: the optimizer state partial_fit continues was made by "
                f"solver={made_for[1]!r}, solver is now {self.solver!r}; set "
                f"solver={made_for[1]!r} back, or call fit "
                "(a warm fit with warm_start=True keeps the weights and starts a new optimizer)"
            )
        try:
            return optim.state_from_dict(opt, flat, lambda leaf: b.asarray(leaf, self.dtype))
        except ValueError as e:
            raise ValueError(
                f"solver: {e}; partial_fit cannot continue another solver's state. Keep "
                "solver and momentum, or call fit to start a new optimizer"
            ) from e

    def _continued_state(self, params: list, opt_state: Any, validation: Any, evals: Mapping):
        """A TrainState that continues the last run: its epoch count, history and patience."""
        previous = getattr(self, "_state", None)
        epoch = previous.epoch if previous is not None else int(getattr(self, "n_iter_", 0))
        history = previous.history if previous is not None else {}
        if not check_history(history, validation is not None, evals, self._metric):
            history = {}
        state = TrainState(params=params, opt_state=opt_state, epoch=epoch, history=history)
        if previous is not None and getattr(self, "_stopping_on", None) == self.early_stopping:
            state.best_score = previous.best_score
            state.no_improvement = previous.no_improvement
            best = previous.best_params if validation is not None else None
            state.best_params = None if best is None else _params_like(best, params, self.dtype)
        return state

    def _validation_split(self, n: int, rng: np.random.Generator, strata: Any):
        try:
            n_val = n_test_samples(float(self.validation_fraction), n, "validation_fraction")
        except ValueError:
            n_val = 0
        split = stratified_split(n, n_val, rng, strata) if n_val >= 1 else None
        if n_val < 2:
            raise ValueError(
                f"validation_fraction: The validation set is too small ({n_val} of {n} samples). "
                "Increase 'validation_fraction' or the size of your dataset."
            )
        return split

    def _run(
        self,
        state,
        train_data,
        b,
        rng,
        opt,
        batch,
        max_epochs,
        validation,
        evals,
        callbacks,
        checkpoint,
    ):
        n_weights = len(state.params)
        user_on_epoch = on_epoch = callbacks.on_epoch
        if self.verbose:

            def on_epoch(epoch: int, row: dict) -> None:
                print(f"Iteration {epoch}, loss = {row['train_loss']:.8f}")
                if user_on_epoch is not None:
                    user_on_epoch(epoch, row)

        spec = StepSpec(
            self._loss(),
            get_activation(self.activation),
            opt,
            per_layer(self.l1, n_weights, "l1"),
            per_layer(self.l2, n_weights, "l2"),
            float(self.alpha) * (self._weight_scale if train_data.w is not None else 1.0),
        )
        mode = b.compile_mode(self.compile)
        config = TrainConfig(
            spec,
            batch_size=batch,
            max_epochs=max_epochs,
            shuffle=bool(self.shuffle),
            early_stopping=bool(self.early_stopping),
            n_iter_no_change=self.n_iter_no_change,
            tol=float(self.tol),
            adaptive=self.learning_rate == "adaptive" and self.solver == "sgd",
            on_divergence=self.on_divergence,
            compile=mode,
        )
        classifier = train_data.y.dtype.kind != "f" if train_data.on_host else None
        if classifier is None:
            classifier = not b.xp.isdtype(train_data.y.dtype, "real floating")
        step = build_step(
            spec,
            b,
            mode=mode,
            batch_sizes=(batch, train_data.n % batch or batch),
            hidden_sizes=self._hidden_sizes(),
            n_classes=self._n_outputs(),
            label_dtype=(
                b.asarray(train_data.y[:1]).dtype if train_data.on_host else train_data.y.dtype
            )
            if classifier
            else None,
            dtype=train_data.X.dtype if not train_data.on_host else b.dtype(self.dtype),
            has_weights=train_data.w is not None,
        )
        callbacks = Callbacks(callbacks.on_batch, on_epoch, callbacks.on_checkpoint)
        comm = self._communicator()
        try:
            # overflow is detected once per epoch and handled: NumPy's warnings would be noise
            with (
                np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"),
                _distributed.abort_on_error(comm),
            ):
                train(
                    state,
                    train_data,
                    config,
                    step,
                    backend=b,
                    rng=rng,
                    validation=validation,
                    eval_sets=evals,
                    callbacks=callbacks,
                    comm=comm if comm.size > 1 else None,
                )
        except DivergenceError as e:
            _flush_checkpoint(callbacks, state)
            self._adopt_state(e.state or state)
            raise
        except KeyboardInterrupt:
            _flush_checkpoint(callbacks, state)
            self._adopt_state(state)
            self._say_interrupted(checkpoint)
            raise
        except _io.WriteError:  # a checkpoint could not be written: the model keeps its epochs
            self._adopt_state(state)
            raise
        self._adopt_state(state)
        if state.stopped and self.verbose:
            print(f"xpnet: stopped after epoch {state.epoch}: {state.stopped}")

    def _say_interrupted(self, checkpoint: Any) -> None:
        if not getattr(self, "_interrupt_notice", True):  # the command says it in its own terms
            return
        written = getattr(self, "_checkpoint_epoch", None)
        if checkpoint is not None and written is not None:
            print(
                f"xpnet: interrupted; the checkpoint {checkpoint} holds epoch {written}. "
                "Resume with fit(..., checkpoint=PATH, resume=True) or "
                "`xpnet train --resume PATH`",
                file=sys.stderr,
            )
        elif checkpoint is not None:
            print(
                f"xpnet: interrupted before the first epoch ended; nothing was written to "
                f"{checkpoint}",
                file=sys.stderr,
            )

    def _adopt_state(self, state: TrainState) -> None:
        self.params_ = state.params
        self._opt_state = state.opt_state
        self._opt_flat = None
        self._made_for = _made_for(state.params, self.solver)  # see _sync_private_state
        self._state = state
        self._stopping_on = self.early_stopping
        self.history_ = state.history
        self.stop_reason_ = state.stopped

    def _finish(self, state, run_start, t_start, n_train, first_row, loss_curve, val_scores):
        """The fitted attributes after a run, as scikit-learn names them."""
        hist = state.history
        self.n_iter_ = state.epoch - run_start
        self.t_ = t_start + self.n_iter_ * n_train
        new_losses = hist.get("train_loss", [])[first_row:]
        self.loss_curve_ = loss_curve + list(new_losses)
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else None
        key = f"val_{self._metric}"
        if self.early_stopping and key in hist:
            scores = hist[key][first_row:]
            if self._metric == "error":
                scores = [1.0 - e for e in scores]
            self.validation_scores_ = val_scores + list(scores)
            self.best_validation_score_ = max(self.validation_scores_, default=None)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_, default=None)
        self.n_layers_ = len(state.params) + 1
        self.n_outputs_ = self._n_outputs()

    def _adopt_data(
        self, b: Backend, d: int, names: Any, X: Any, standardizer: Standardizer | None = None
    ) -> None:
        self.n_features_in_ = d
        self.standardizer_ = standardizer
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.backend_ = b.name
        self._backend_obj, self._backend_key = b, _backend_key(self)
        self._fit_space = _space_of(X)

    # ------------------------------------------------------------------ helpers for fit

    def _standardizer_for(self, X: Any, weights: Any, keep: bool) -> Standardizer | None:
        """The input standardisation of this fit: learned from ``X`` (weighted), given, kept, or None.

        ``keep`` (a warm fit, a later partial_fit): the model's statistics stay, and
        ``standardize`` must still say whether there are any.
        """
        wanted = self.standardize
        given = isinstance(wanted, Standardizer)
        d = int(X.shape[1])
        if keep:
            current = getattr(self, "standardizer_", None)
            if (current is None) == (given or bool(wanted)):
                state = "without" if current is None else "with"
                raise ValueError(
                    f"standardize: the model was fitted {state} an input standardisation, "
                    f"now standardize={wanted!r}; set standardize back, or warm_start=False "
                    "(fit) to start over"
                )
            return current
        if isinstance(wanted, Standardizer):
            if wanted.n_features_in_ != d:
                raise ValueError(
                    f"standardize: the given Standardizer has {wanted.n_features_in_} "
                    f"features, X has {d}"
                )
            return copy.deepcopy(wanted)
        if not wanted:
            return None
        return Standardizer().fit(X, weights)

    def _draw_seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.default_rng().integers(2**63 - 1))
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(2**31 - 1))
        if isinstance(rs, np.random.Generator):
            return int(rs.integers(2**63 - 1))
        return int(rs)

    def _batch(self, n: int) -> int:
        if not isinstance(self.batch_size, numbers.Integral):  # "auto" (checked by _check_params)
            return min(200, n)
        if self.batch_size > n:
            warnings.warn(
                f"batch_size: {self.batch_size} is larger than the {n} samples; "
                "it is going to be clipped",
                UserWarning,
                stacklevel=3,
            )
        return max(1, min(int(self.batch_size), n))

    def _optimizer(
        self, n_train: int, batch: int, t_start: int, incremental: bool = False
    ) -> optim.Optimizer:
        """The solver, with scikit-learn's learning-rate schedule.

        ``invscaling`` (sgd): the first epoch of an optimizer uses
        ``learning_rate_init``, each later one ``learning_rate_init / (t + 1) ** power_t``
        with t the samples seen (``t_``), across warm starts. partial_fit (``incremental``)
        continues one optimizer: its epoch uses the rate left by the last call.
        """
        lr0 = float(self.learning_rate_init)
        lr: Any = lr0
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            power_t = float(self.power_t)
            if incremental:
                lr = lr0 / (t_start + 1) ** power_t
            else:
                steps = math.ceil(n_train / batch)

                def lr(count: Any) -> Any:  # operators only: a traced count works too
                    seen = (count // steps) * n_train
                    if t_start:
                        seen = seen + t_start * (count >= steps)
                    return lr0 / (seen + 1) ** power_t

        if self.solver == "adam":
            return optim.adam(lr, float(self.beta_1), float(self.beta_2), float(self.epsilon))
        return optim.sgd(lr, float(self.momentum), bool(self.nesterovs_momentum))

    def _must_stream(self, b: Backend, X: Any, *more: Any) -> bool:
        """True when the data would not fit in the device's free memory, or stay on disk."""
        if any(is_out_of_core(A) for A in (X, *more)):
            if self.verbose:
                print("xpnet: the data are memory-mapped: streaming minibatches from the file")
            return True
        free = b.free_memory()
        if free is None:
            return False
        itemsize = 4 if self.dtype == "float32" else 8
        per_row = 8 * max(1, self._n_outputs() if self._metric == "r2" else 1)
        needed = sum(int(A.shape[0]) * (int(A.shape[1]) * itemsize + per_row) for A in (X, *more))
        if needed <= _DEVICE_MEMORY_FRACTION * free:
            return False
        if self.verbose:
            print(
                f"xpnet: the data need {needed / 2**20:.1f} MiB and {b.name} has "
                f"{free / 2**20:.1f} MiB free: streaming minibatches from the host"
            )
        return True

    def _epoch_data(self, b, X, targets, weights, rows, stream, standardizer=None) -> EpochData:
        """A data set on the device (or on the host, streaming); targets are host arrays.

        ``standardizer``: applied on the host in float64 and cast to the training
        dtype: to the whole X in memory, a minibatch at a time to a memory-mapped X.
        """
        t = targets if rows is None else targets[rows]
        w = None if weights is None else (weights if rows is None else weights[rows])
        if w is not None:
            # weights to mean 1, alpha times the same factor (see _run): the gradients are
            # scikit-learn's, sum_i w_i g_i / sum_b w plus alpha W / sum_b w per minibatch b,
            # and the reported loss is the weighted mean
            total = float(w.sum())
            if not total > 0:
                raise ValueError(
                    "sample_weight: the training rows' weights are all zero; at least one "
                    "must be positive"
                )
            self._weight_scale = w.shape[0] / total
            w = w * self._weight_scale
        ss_tot = None
        if t.dtype.kind == "f":
            ss_tot = float(np.sum((t - t.mean(axis=0)) ** 2))
        t = t.astype(self.dtype) if t.dtype.kind == "f" else t.astype(np.int64)
        if stream:
            if is_out_of_core(X):  # rows are read from the file a minibatch at a time
                host = X if rows is None else HostRows(X, rows)
                if standardizer is not None:
                    host = StandardizedRows(host, standardizer, self.dtype)
            else:
                host = to_numpy(X)
                host = host if rows is None else host[rows]
                if standardizer is not None:
                    host = standardizer.transform(host, self.dtype)
                host = np.ascontiguousarray(host, dtype=self.dtype)
            return EpochData(
                host,
                t,
                w=None if w is None else w.astype(self.dtype),
                on_host=True,
                dtype=self.dtype,
                w_host=w,
                ss_tot=ss_tot,
            )
        if standardizer is not None:
            X = standardizer.transform(X, self.dtype)
        X_dev = b.asarray(X, self.dtype)
        if rows is not None:
            X_dev = b.xp.take(X_dev, b.asarray(np.asarray(rows, dtype=np.int64)), axis=0)
        w_dev = None if w is None else b.asarray(w, self.dtype)
        return EpochData(X_dev, b.asarray(t), w=w_dev, w_host=w, ss_tot=ss_tot)

    def _check_eval(self, name: Any, pair: Any, n_features: int) -> tuple[Any, np.ndarray]:
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"eval_sets[{name!r}]: expected a pair (X, y)")
        Xe = check_X(
            _host_if_dask(pair[0]), f"eval_sets[{name!r}] X", float32=self.dtype == "float32"
        )
        if Xe.shape[1] != n_features:
            raise ValueError(
                f"eval_sets[{name!r}] X: has {Xe.shape[1]} features, the training data {n_features}"
            )
        return Xe, self._eval_targets(pair[1], int(Xe.shape[0]), f"eval_sets[{name!r}] y")

    # ------------------------------------------------------------------ prediction

    def _check_fitted(self) -> None:
        if getattr(self, "params_", None) is None:
            raise not_fitted_error(
                f"This {type(self).__name__} instance is not fitted yet; call fit (or load a "
                "model) first"
            )

    def _check_features(self, X: Any, names: Any = None) -> None:
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input (the number it was fitted with)"
            )

    def _outputs(self, X: Any, method: str) -> Any:
        """The output layer's pre-activations o_a on the backend, computed in chunks.

        The model's input standardisation (``standardizer_``), if any, is applied to
        each chunk on the host (float64, then the model's dtype) on its way to the device.
        """
        self._check_fitted()
        self._check_same_space(X, method)
        check_feature_names(getattr(self, "feature_names_in_", None), X, type(self).__name__)
        X = check_X(_host_if_dask(X), float32=self.dtype == "float32")
        self._check_features(X)
        b = self._current_backend()
        params = self._device_params(b)
        standardizer = getattr(self, "standardizer_", None)
        outs = []
        n = int(X.shape[0])
        rows = min(_PREDICT_CHUNK, release_every_rows(X)) if is_out_of_core(X) else _PREDICT_CHUNK
        for start in range(0, n, rows):
            chunk = gather_rows(X, slice(start, min(start + rows, n)))
            if standardizer is not None:
                chunk = standardizer.transform(chunk, self.dtype)
            with np.errstate(over="ignore", invalid="ignore"):  # overflow is handled below
                logits, _ = forward(params, b.asarray(chunk, self.dtype), self.activation, b.xp)
                outs.append(self._finite_outputs(logits, params, chunk, b, start, method))
            release_host_pages(X)  # a memory-mapped X does not stay resident
        return outs[0] if len(outs) == 1 else b.xp.concat(outs, axis=0)

    def _finite_outputs(self, logits, params, chunk, b: Backend, start: int, method: str):
        """``logits`` when they are all finite; else recomputed in float64, or refused.

        A float32 model whose outputs overflow for finite inputs (3e38 in X,
        or parameters grown huge) is computed again in float64 where the
        backend has it. A classifier's rows are then shifted by their maximum
        (softmax is unchanged by a shift) so that they fit in float32 and give
        finite probabilities; a regressor's must fit as they are. What is
        still not finite is a ``NonFiniteOutputError``, never NaN in silence.
        """
        xp = b.xp
        if bool(xp.all(xp.isfinite(logits))):
            return logits
        wide = None
        if self.dtype != "float64":
            try:
                wide, _ = forward(
                    _params_to(b, [(to_numpy(W), to_numpy(v)) for W, v in params], "float64"),
                    b.asarray(to_numpy(chunk), "float64"),
                    self.activation,
                    xp,
                )
            except (ValueError, TypeError, RuntimeError):  # no float64 on this backend
                pass
            if wide is not None and bool(xp.all(xp.isfinite(wide))):
                if self._estimator_type == "classifier":
                    wide = wide - xp.max(wide, axis=-1, keepdims=True)
                narrow = xp.astype(wide, logits.dtype)
                if self._estimator_type == "classifier" or bool(xp.all(xp.isfinite(narrow))):
                    return narrow
        bad = ~xp.all(xp.isfinite(logits), axis=-1)
        rows = np.flatnonzero(np.asarray(to_numpy(bad)))
        biggest_x = float(np.max(np.abs(np.asarray(to_numpy(chunk), dtype=np.float64))))
        biggest_p = max(float(np.max(np.abs(to_numpy(W)))) for W, _ in params)
        raise NonFiniteOutputError(
            f"{method}: the network's outputs are not finite for {rows.shape[0]} row(s) of X "
            f"(the first: row {start + int(rows[0])})"
            + (", even computed in float64" if wide is not None or self.dtype == "float64" else "")
            + f": the inputs "
            f"(largest |x| = {biggest_x:.3g}) or the parameters (largest |W| = "
            f"{biggest_p:.3g}) overflow them. Scale the inputs as in training; if the "
            "parameters are huge the training diverged: refit with a lower learning_rate_init"
        )

    def _check_same_space(self, X: Any, method: str) -> None:
        """Under scikit-learn's ``array_api_dispatch``, X must be where the fit's X was."""
        sklearn = sys.modules.get("sklearn")
        if sklearn is None or not sklearn.get_config().get("array_api_dispatch", False):
            return
        fitted, now = getattr(self, "_fit_space", None), _space_of(X)
        if fitted is not None and fitted != now:
            raise ValueError(
                f"X: Inputs passed to {type(self).__name__}.{method}() must use the same "
                f"namespace and the same device as those passed to fit(): fitted on "
                f"{fitted[0]} ({fitted[1]}), got {now[0]} ({now[1]}). Move X there, or fit "
                "again on these arrays"
            )

    # ------------------------------------------------------------------ files

    def _meta(self, sizes: Sequence[int]) -> dict:
        params = {}
        for key, value in self.get_params().items():
            if key == "backend":
                value = value if isinstance(value, str) else self.backend_
            if key == "random_state" and not (value is None or isinstance(value, int)):
                value = None
            if key == "standardize":  # a given Standardizer: its statistics are arrays
                value = "given" if isinstance(value, Standardizer) else bool(value)
            params[key] = _jsonable_param(value)
        meta = {
            "xpnet_version": __version__,
            "estimator": type(self).__name__,
            "activation": get_activation(self.activation).name,
            "dtype": self.dtype,
            "layer_sizes": [int(s) for s in sizes],
            "hyperparams": params,
            "n_iter": int(getattr(self, "n_iter_", 0)),
            "t": int(getattr(self, "t_", 0)),  # samples seen: invscaling continues from it
            "trained_on": getattr(self, "backend_", None),
        }
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            meta["feature_names"] = [str(s) for s in names]
        return meta

    def _output_arrays(self) -> dict:
        """Arrays a subclass stores beside the parameters (the classifier's classes)."""
        return {}

    def save(self, path: str | Path, *, label_column: str | None = None) -> Path:
        """Write the fitted model to ``path`` (``.npz`` of plain arrays + JSON, atomic).

        The file (format version 2) holds everything prediction needs: the
        parameters, the classes, the input standardisation (``standardizer_``),
        ``feature_names_in_`` and, if given, ``label_column``: the name of the
        label column of the table it was trained on (``xpnet train`` records its
        ``--label``; ``xpnet predict`` drops that column by name). A loaded model
        keeps its label column and writes it again.

        In a data-parallel run (``distributed="mpi"``) only rank 0 writes; the
        other ranks return the path and write nothing.
        """
        self._check_fitted()
        if label_column is not None and not isinstance(label_column, str):
            raise TypeError(f"label_column: expected a str or None, got {label_column!r}")
        comm = getattr(self, "_comm", None)
        if comm is not None and not comm.is_root:
            return Path(path)
        meta = {
            "format": _io.MODEL_FORMAT,
            "format_version": _io.MODEL_FORMAT_VERSION,
            **self._meta(layer_sizes(self.params_)),
        }
        label_column = label_column if label_column is not None else self._label_column()
        if label_column is not None:
            meta["label_column"] = label_column
        arrays = _io.model_arrays([(to_numpy(W), to_numpy(b)) for W, b in self.params_])
        arrays.update(self._output_arrays())
        standardizer = getattr(self, "standardizer_", None)
        if standardizer is not None:
            meta["standardizer"] = {
                "learned": bool(standardizer.learned),
                "n_samples_seen": int(standardizer.n_samples_seen_),
            }
            arrays["standardizer_mean"] = np.asarray(standardizer.mean_, dtype=np.float64)
            arrays["standardizer_scale"] = np.asarray(standardizer.scale_, dtype=np.float64)
        return _io.write_archive(path, meta, arrays)

    def _label_column(self) -> str | None:
        return getattr(self, "_label_column_name", None)

    @staticmethod
    def _split_standardizer(path: Any, meta: dict, arrays: Mapping) -> tuple[dict, Any]:
        """(the arrays without the standardisation, the Standardizer or None), checked."""
        arrays = dict(arrays)
        mean, scale = arrays.pop("standardizer_mean", None), arrays.pop("standardizer_scale", None)
        info = meta.get("standardizer")
        if mean is None and scale is None and info is None:
            return arrays, None
        if meta.get("format_version", 1) < 2:
            raise ValueError(f"{path}: a file of format version 1 holds no input standardisation")
        if not isinstance(info, dict) or mean is None or scale is None:
            raise ValueError(
                f"{path}: the input standardisation needs metadata 'standardizer' and the "
                "arrays 'standardizer_mean' and 'standardizer_scale'"
            )
        sizes = meta.get("layer_sizes")
        d = sizes[0] if isinstance(sizes, list) and sizes else None
        for name, arr in (("standardizer_mean", mean), ("standardizer_scale", scale)):
            if arr.dtype != np.float64 or arr.shape != (d,):
                raise ValueError(
                    f"{path}: array {name!r} must be {d} float64 values, one per feature"
                )
        learned, seen = info.get("learned"), info.get("n_samples_seen")
        if not isinstance(learned, bool) or not (
            isinstance(seen, int) and not isinstance(seen, bool) and seen >= 0
        ):
            raise ValueError(
                f"{path}: metadata 'standardizer' must hold 'learned' (a bool) and "
                "'n_samples_seen' (an int >= 0)"
            )
        try:
            standardizer = Standardizer.from_stats(mean, scale)
        except ValueError as e:
            raise ValueError(f"{path}: the input standardisation is invalid ({e})") from e
        standardizer.learned, standardizer.n_samples_seen_ = learned, seen
        return arrays, standardizer

    @classmethod
    def _from_meta(
        cls: type[_Est],
        path: Any,
        meta: dict,
        backend: Any,
        params: list,
        standardizer: Any = None,
    ) -> _Est:
        """An estimator with the file's hyperparameters and parameters on ``backend``."""
        hyper = meta.get("hyperparams", {})
        if not isinstance(hyper, dict):
            raise ValueError(f"{path}: metadata 'hyperparams' must be an object")
        est = cls()
        parameters = set(cls._get_param_names())
        for key, value in hyper.items():
            if key == "standardize" and value == "given" and standardizer is not None:
                value = copy.deepcopy(standardizer)
            if key in parameters and key != "backend":
                if key in ("hidden_layer_sizes", "l1", "l2") and isinstance(value, list):
                    value = tuple(value)
                setattr(est, key, value)
        if "alpha" not in hyper:
            est.alpha = 0.0  # written before alpha existed: those models had none
        est.activation = meta["activation"]
        est.dtype = meta["dtype"]
        est.hidden_layer_sizes = tuple(meta["layer_sizes"][1:-1])
        try:
            est._check_params()
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: stored hyperparameters are invalid ({e})") from e
        est.backend = backend
        b = est._resolve_backend()
        est.params_ = _params_to(b, params, est.dtype)
        est.n_features_in_ = int(meta["layer_sizes"][0])
        names = meta.get("feature_names")
        if names is not None:
            if not (
                isinstance(names, list)
                and len(names) == est.n_features_in_
                and all(isinstance(s, str) for s in names)
            ):
                raise ValueError(f"{path}: metadata 'feature_names' must be one string per feature")
            est.feature_names_in_ = np.asarray(names, dtype=object)
        if bool(est.standardize is not False) != (standardizer is not None):
            raise ValueError(
                f"{path}: hyperparameter standardize={hyper.get('standardize')!r} does not "
                "match the file's input standardisation"
                + (" (there is none)" if standardizer is None else "")
            )
        est.standardizer_ = standardizer
        label_column = meta.get("label_column")
        if label_column is not None and not isinstance(label_column, str):
            raise ValueError(f"{path}: metadata 'label_column' must be a string")
        est._label_column_name = label_column
        est.backend_ = b.name
        est._backend_obj = b
        n_iter = meta.get("n_iter")
        est.n_iter_ = n_iter if isinstance(n_iter, int) and not isinstance(n_iter, bool) else 0
        if "t" in meta:  # files before it restart the learning-rate schedule at t_ = 0
            seen = meta["t"]
            if isinstance(seen, bool) or not isinstance(seen, int) or not 0 <= seen < 2**63:
                raise ValueError(
                    f"{path}: metadata 't' (samples seen) must be an integer in [0, 2**63), "
                    f"got {seen!r:.80}"
                )
            est.t_ = seen
        est.n_layers_ = len(params) + 1
        est.loss_curve_ = []
        est.history_ = {}
        est.validation_scores_ = None
        est._opt_state = None
        est._state = None
        return est

    def _write_checkpoint(
        self, path, state, seed, sizes, n_samples, run_start, t_start, fingerprint=None
    ) -> None:
        meta = {
            **self._meta(sizes),
            "seed": int(seed),
            "n_samples": int(n_samples),
            "run_start": int(run_start),
            "t_start": int(t_start),
        }
        if fingerprint is not None:
            meta["data_fingerprint"] = fingerprint
        flat = dataclasses.replace(state, opt_state=optim.state_to_dict(state.opt_state))
        _io.save_checkpoint(path, flat, meta, self._checkpoint_classes())

    def _checkpoint_classes(self) -> np.ndarray:
        return np.zeros(0, dtype=np.int64)

    def _check_checkpoint_classes(self, path: Any, stored: Any) -> None:
        """A subclass checks the labels the checkpoint holds."""

    def _communicator(self) -> Any:
        """The job's communicator (one process unless ``distributed="mpi"``), set up once.

        Refuses several processes started by a launcher without
        ``distributed="mpi"``; with several ranks, limits each rank's threads.
        """
        _distributed.refuse_unrequested_launch(self.distributed)
        comm = _distributed.get_communicator(self.distributed)
        if comm.size > 1 and getattr(self, "_comm", None) is not comm:
            _distributed.limit_threads(comm, verbose=bool(self.verbose) and comm.is_root)
        self._comm = comm
        return comm

    def _read_checkpoint_on_root(
        self, comm: Any, path: Any, sizes: tuple, n: int, fingerprint: str | None = None
    ) -> Any:
        """Rank 0 reads (and checks) the checkpoint and sends it to every rank; None if absent.

        ``fingerprint`` is this run's data fingerprint, computed on rank 0 only (every
        rank has the same data).
        """
        if comm.size == 1:
            return (
                self._read_checkpoint(path, sizes, n, fingerprint) if Path(path).exists() else None
            )
        payload: Any = None
        if comm.is_root:
            try:
                payload = (
                    "ok",
                    self._read_checkpoint(path, sizes, n, fingerprint)
                    if Path(path).exists()
                    else None,
                )
            except ValueError as e:
                payload = ("error", str(e))
        kind, value = comm.broadcast(payload)
        if kind == "error":
            raise ValueError(value)
        return value

    def _read_checkpoint(
        self, path: Any, sizes: tuple, n_samples: int, fingerprint: str | None = None
    ) -> dict:
        state, meta, stored_classes = _io.load_checkpoint(path)
        if meta.get("layer_sizes") != list(sizes):
            raise ValueError(
                f"{path}: checkpoint has layer sizes {meta.get('layer_sizes')}, this run needs "
                f"{list(sizes)}; resume with the same data and hidden_layer_sizes, or pass "
                "resume=False"
            )
        kind = meta.get("estimator", "MLPClassifier")
        if kind != type(self).__name__:
            raise ValueError(
                f"{path}: checkpoint was written by {kind}, not {type(self).__name__}; "
                "resume with the same estimator, or pass resume=False"
            )
        stored_n = meta.get("n_samples")
        if isinstance(stored_n, int) and stored_n not in (0, n_samples):
            raise ValueError(
                f"{path}: checkpoint was written for {stored_n} samples, this run has "
                f"{n_samples}; resume with the same data, or pass resume=False"
            )
        stored = meta.get("hyperparams", {})
        if not isinstance(stored, dict):
            raise ValueError(f"{path}: metadata 'hyperparams' must be an object")
        for key in _RESUME_SETTINGS:
            mine = _jsonable_param(getattr(self, key))
            if key == "activation":
                mine, theirs = get_activation(mine).name, meta.get("activation")
            else:
                theirs = stored.get(key, 0.0 if key == "alpha" else None)
            if key == "dtype" and theirs == mine:
                theirs = meta["dtype"]
            if key == "random_state" and (mine is None or theirs is None):
                continue  # the checkpoint's seed decides
            if theirs != mine:
                raise ValueError(
                    f"{path}: checkpoint was written with {key}={theirs!r}, this run has "
                    f"{mine!r}; resume with the same settings, or pass resume=False"
                )
        self._check_checkpoint_classes(path, stored_classes)
        stored_fingerprint = meta.get("data_fingerprint")
        if stored_fingerprint is None:
            warnings.warn(
                f"{path}: the checkpoint holds no data fingerprint (it was written by an "
                "earlier version of xpnet), so only the data's shape and classes were checked: "
                "resume it with the data it was trained on",
                UserWarning,
                stacklevel=4,
            )
        elif fingerprint is not None and stored_fingerprint != fingerprint:
            raise ValueError(
                f"{path}: checkpoint was written for other data (the same shape and classes, "
                f"other values: data fingerprint {stored_fingerprint}, this run's {fingerprint}); "
                "resume with the data it was trained on, or give a new checkpoint path "
                "(or pass resume=False) to start over"
            )
        seed = meta.get("seed")
        if not isinstance(seed, int):
            raise ValueError(f"{path}: metadata 'seed' must be an int")
        counts = {}
        for key in ("run_start", "t_start"):
            value = meta.get(key, 0)  # absent in checkpoints of earlier versions: one run
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value:
                raise ValueError(f"{path}: metadata {key!r} must be an int >= 0")
            counts[key] = value
        if counts["run_start"] > state.epoch:
            raise ValueError(f"{path}: metadata 'run_start' is beyond its epoch {state.epoch}")
        return {"state": state, "seed": seed, **counts}


# ---------------------------------------------------------------------- module helpers


def _flush_checkpoint(callbacks: Callbacks, state: TrainState) -> None:
    """Write the checkpoint an interval skipped (the state is its last finished epoch)."""
    flush = getattr(callbacks.on_checkpoint, "flush", None)
    if flush is not None:
        flush(state)


def _check_fit_args(eval_sets, checkpoint, resume, on_batch, on_epoch) -> None:
    if eval_sets is not None and not isinstance(eval_sets, Mapping):
        raise TypeError(
            "eval_sets: expected a dict {name: (X, y)}, got " + type(eval_sets).__name__
        )
    check_eval_names(eval_sets or {})  # before any work: a name may not be a history column
    if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
        if not hasattr(checkpoint, "__fspath__"):
            raise TypeError(
                "checkpoint: expected a path (str or os.PathLike), got " + type(checkpoint).__name__
            )
    if not isinstance(resume, (bool, np.bool_)):
        raise TypeError(f"resume: expected True or False, got {resume!r}")
    for hook_name, hook in (("on_batch", on_batch), ("on_epoch", on_epoch)):
        if hook is not None and not callable(hook):
            raise TypeError(f"{hook_name}: expected a callable or None, got {hook!r}")
    if resume and checkpoint is None:
        raise ValueError("resume: resume=True needs checkpoint=PATH to resume from")


def _check_checkpoint_path(checkpoint: Any) -> None:
    """A checkpoint path that can be written: refused before the first epoch, not after it."""
    text = os.fspath(checkpoint)
    if not isinstance(text, str):
        raise TypeError(f"checkpoint: expected a str path, got {type(text).__name__} {text!r:.80}")
    if not text.strip():
        raise ValueError(
            f"checkpoint: the path is empty ({text!r}); give a file path such as 'run.ckpt.npz'"
        )
    path = Path(text)
    if path.is_dir():
        raise ValueError(
            f"checkpoint: {text} is a directory; give a file path, such as "
            f"{path / 'checkpoint.npz'}"
        )
    if text.endswith(("/", os.sep)):
        raise ValueError(f"checkpoint: {text} names a directory; give a file path")
    if path.exists() and not path.is_file():
        raise ValueError(f"checkpoint: {text} exists and is not a regular file; give a file path")
    parent = path.parent
    if not parent.exists():
        raise ValueError(
            f"checkpoint: the directory {parent} of {text} does not exist; create it first "
            "or give a path in an existing directory"
        )
    if not parent.is_dir():
        raise ValueError(f"checkpoint: {parent} (in {text}) is not a directory; give another path")


def _lock_checkpoint(comm: Any, path: Path, held: int | None) -> Any:
    """Rank 0 locks the checkpoint path and removes its stale temporary files.

    Every rank raises when rank 0 cannot take the lock; only rank 0 holds one.
    ``held``: the epoch the checkpoint holds when this run resumes it, else None.
    """
    lock = None
    failure: Exception | None = None
    if comm.is_root:
        try:
            lock = _io.CheckpointLock(path).acquire()
        except _io.CheckpointLockedError as e:
            failure = e
        except _io.WriteError as e:  # the directory cannot be written: say so before training
            failure = _checkpoint_write_error(path, e, held)
        else:
            _io.remove_stale_temporaries(path)  # ours now: left by a writer that died
    if comm.size > 1:
        message = comm.broadcast(None if failure is None else str(failure))
        if message is not None and failure is None:
            failure = _io.CheckpointLockedError(errno.EWOULDBLOCK, message, str(path))
    if failure is not None:
        raise failure
    return lock


def _checkpoint_write_error(path: Path, error: OSError, held: int | None) -> Exception:
    """``error`` as a CheckpointWriteError whose message says how to go on."""
    remedy = _io.write_remedy(error.errno)
    if held is None:
        hint = f"nothing of this run was saved; {remedy} and fit again"
    else:
        hint = (
            f"it still holds epoch {held}: {remedy} and resume with "
            "fit(..., checkpoint=PATH, resume=True)"
        )
    return _io.CheckpointWriteError(path, error, held, hint)


def _check_history_columns(path, history, validation, evals, metric) -> None:
    """A resumed run must record the same history columns as its checkpoint holds."""
    expected = history_keys(validation is not None, evals, metric)
    if set(history) != set(expected):
        raise ValueError(
            f"{path}: checkpoint's history has columns {sorted(history)}, this run records "
            f"{sorted(expected)}; resume with the same eval_sets, or pass resume=False"
        )


def _jsonable_param(value: Any) -> Any:
    """A constructor argument as it reads back from JSON metadata (tuples as lists)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        return [_jsonable_param(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _host_if_dask(X: Any) -> Any:
    """A dask X as a temporary memory map, each block computed once (see spool_dask)."""
    return spool_dask(X) if is_dask_array(X) else X


def _space_of(X: Any) -> tuple[str, str]:
    """(namespace name, device) of an array; NumPy for host data of any kind."""
    if isinstance(X, np.ndarray) or is_dask_array(X) or not array_api_compat.is_array_api_obj(X):
        return ("numpy", "cpu")
    return (array_api_compat.array_namespace(X).__name__, str(array_api_compat.device(X)))


def like_input(arr: Any, X: Any) -> Any:
    """``arr`` in the namespace, and on the device, of the input ``X`` (NumPy for dask)."""
    if isinstance(X, np.ndarray) or is_dask_array(X) or not array_api_compat.is_array_api_obj(X):
        return to_numpy(arr)
    return get_backend(X).asarray(arr)


def _params_to(b: Backend, params: Sequence, dtype: str) -> list:
    return [(b.asarray(W, dtype), b.asarray(bias, dtype)) for W, bias in params]


def _params_like(params: Sequence, like: Sequence, dtype: str) -> list:
    """``params`` moved to the backend of ``like`` (kept best parameters, after a backend change)."""
    return _params_to(
        get_backend(like[0][0]), [(to_numpy(W), to_numpy(b)) for W, b in params], dtype
    )


def _shape_of(a: Any) -> tuple:
    """The shape of an array of any backend, or of nested lists."""
    return tuple(a.shape) if hasattr(a, "shape") else tuple(np.shape(a))


def _leaves(params: Sequence) -> tuple:
    return tuple(leaf for pair in params for leaf in pair)


def _made_for(params: Sequence, solver: str) -> tuple:
    """What the private training state belongs to: these very arrays, this solver."""
    return (_leaves(params), solver)


def _same_leaves(leaves: tuple, params: Any) -> bool:
    """Whether ``params`` still holds exactly these arrays (identity: an assignment is new)."""
    if not isinstance(params, (list, tuple)) or not all(
        isinstance(p, (list, tuple)) and len(p) == 2 for p in params
    ):
        return False
    now = _leaves(params)
    return len(now) == len(leaves) and all(a is b for a, b in zip(now, leaves, strict=True))


def _backend_key(est: Any) -> tuple:
    """What the resolved backend depends on: ``backend`` (a spec, or the module itself) and TF32."""
    spec = est.backend if isinstance(est.backend, str) else id(est.backend)
    return (spec, bool(est.allow_tf32))


def _same_random_state(seeded_by: Any, now: Any) -> bool:
    """Whether ``random_state`` is still the one that seeded the shuffling generator."""
    if seeded_by is now:
        return True
    integral = (numbers.Integral, np.integer)
    return (
        isinstance(seeded_by, integral)
        and isinstance(now, integral)
        and not isinstance(seeded_by, bool)
        and int(seeded_by) == int(now)
    )
