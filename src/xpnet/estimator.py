"""MLPClassifier: a scikit-learn style estimator over xpnet's functional core.

Where a parameter does what one of scikit-learn's ``MLPClassifier`` does, it
has the same name and meaning. Regularisation is the seed's elastic net
(``l1``, ``l2`` per weight matrix) instead of ``alpha``: the penalty is added
once per minibatch objective, so ``l2`` equals scikit-learn's
``alpha / (2 * batch_size)``.

scikit-learn itself is not imported by this module.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import numbers
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

from . import io as _io
from . import optim
from ._version import __version__
from .backend import Backend, BackendUnavailableError, get_backend, host_rng, to_numpy
from .compile import COMPILE_MODES
from .functional import ACTIVATION_NAMES, get_activation
from .losses import CROSS_ENTROPY
from .mlp import forward, init_params, layer_sizes
from .regularizers import per_layer
from .step import StepSpec, build_step
from .train import (
    Callbacks,
    DivergenceError,
    EpochData,
    TrainConfig,
    TrainState,
    check_history,
    train,
)

__all__ = ["MLPClassifier", "NotFittedError"]

_SOLVERS = ("sgd", "adam")
_SCHEDULES = ("constant", "invscaling", "adaptive")
_DTYPES = ("float32", "float64")
_PREDICT_CHUNK = 8192
# Data use at most this fraction of the device's free memory; beyond it minibatches stream.
_DEVICE_MEMORY_FRACTION = 0.7


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before ``fit`` (same bases as scikit-learn's)."""


class MLPClassifier:
    """Multilayer perceptron classifier (softmax output, cross-entropy loss) on any backend.

    Parameters:
        hidden_layer_sizes: sizes of the hidden layers, e.g. ``(100,)`` or ``(100, 50)``.
        activation: hidden activation: ``relu`` (``rect``), ``tanh``,
            ``sigmoid`` (``logistic``), ``softplus``, ``abs``, ``identity``.
        solver: ``"sgd"`` (seed 2.6 with momentum) or ``"adam"``.
        learning_rate_init: initial step size.
        learning_rate: ``"constant"``, ``"invscaling"`` (sgd: after each epoch
            the rate is ``learning_rate_init / (t + 1) ** power_t``, t = samples
            seen) or ``"adaptive"`` (sgd: divided by 5 each time the patience
            runs out, until it is below 1e-6), as in scikit-learn.
        momentum: sgd momentum in [0, 1).
        nesterovs_momentum: use Nesterov's momentum (sgd).
        batch_size: minibatch size (an int, or ``"auto"`` = min(200, n_samples)).
        max_iter: maximum number of epochs.
        shuffle: reshuffle the training set each epoch.
        tol: smallest improvement that counts (loss, or validation accuracy
            with ``early_stopping``).
        n_iter_no_change: epochs without such an improvement before stopping.
        early_stopping: hold out ``validation_fraction`` of the training data
            (stratified), stop when its accuracy stops improving, and keep the
            best parameters.
        validation_fraction: the held-out share, in (0, 1).
        beta_1, beta_2, epsilon: Adam's decay rates and epsilon.
        power_t: exponent of the ``invscaling`` schedule.
        l1, l2: elastic-net strengths (seed 2.18), one float or one per weight matrix.
        backend: where to train: ``"auto"``, ``"numpy"``, ``"cupy"``, ``"torch"``,
            ``"torch:cpu"``, ``"array_api_strict"``, ... (see ``xpnet.get_backend``).
        dtype: ``"float32"`` (default) or ``"float64"`` (on JAX, float64 needs
            ``JAX_ENABLE_X64=1``).
        compile: ``"auto"`` (on JAX: the step under ``jax.jit`` and each epoch's
            full-size minibatches as one compiled loop; eager elsewhere),
            ``"none"`` (eager everywhere) or ``"jit"`` (``jax.jit`` on JAX,
            ``torch.compile`` on PyTorch; a ``ValueError`` on other backends).
        allow_tf32: allow TF32 tensor-core matmuls on CUDA (faster, less exact).
        on_divergence: ``"raise"`` (``DivergenceError``) or ``"halve_lr"``.
        random_state: int seed for initial weights, shuffling and the
            validation split; None draws a fresh one.
        verbose: print the chosen backend and one line per epoch.
        warm_start: ``fit`` continues from the current parameters.

    Attributes (after ``fit``): ``classes_``, ``params_`` (on the backend),
    ``loss_curve_``, ``validation_scores_``, ``best_validation_score_``,
    ``best_loss_``, ``n_iter_``, ``t_``, ``history_``, ``backend_``,
    ``n_features_in_``, ``n_layers_``, ``n_outputs_``, ``out_activation_``.
    """

    def __init__(
        self,
        hidden_layer_sizes: Sequence[int] = (100,),
        activation: str = "relu",
        solver: str = "sgd",
        learning_rate_init: float = 0.01,
        learning_rate: str = "constant",
        momentum: float = 0.9,
        nesterovs_momentum: bool = False,
        batch_size: int | str = 128,
        max_iter: int = 200,
        shuffle: bool = True,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        power_t: float = 0.5,
        l1: float | Sequence[float] = 0.0,
        l2: float | Sequence[float] = 0.0,
        backend: Any = "auto",
        dtype: str = "float32",
        compile: str = "auto",
        allow_tf32: bool = False,
        on_divergence: str = "raise",
        random_state: int | None = None,
        verbose: bool = False,
        warm_start: bool = False,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.power_t = power_t
        self.l1 = l1
        self.l2 = l2
        self.backend = backend
        self.dtype = dtype
        self.compile = compile
        self.allow_tf32 = allow_tf32
        self.on_divergence = on_divergence
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # ------------------------------------------------------------------ parameters

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments as a dict (scikit-learn's protocol)."""
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> MLPClassifier:
        """Set constructor arguments; unknown names raise ValueError."""
        valid = set(self._get_param_names())
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"set_params: invalid parameter {key!r} for MLPClassifier; valid: {sorted(valid)}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {
            name: p.default for name, p in inspect.signature(type(self).__init__).parameters.items()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name)
            try:
                same = bool(value == default)
            except Exception:
                same = False
            if not same:
                changed.append(f"{name}={value!r}")
        return f"MLPClassifier({', '.join(changed)})"

    def __sklearn_tags__(self):  # only called by scikit-learn, which is then imported
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        tags = Tags(
            estimator_type="classifier",
            target_tags=TargetTags(required=True),
            classifier_tags=ClassifierTags(),
        )
        tags.non_deterministic = self.random_state is None
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "params_", None) is not None

    _estimator_type = "classifier"

    def __getstate__(self) -> dict:
        # the resolved Backend holds a module, which pickle refuses: keep its name instead
        state = self.__dict__.copy()
        state.pop("_backend_obj", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if state.get("backend_") is not None:
            self._backend_obj = get_backend(state["backend_"])

    def _validate_params(self) -> None:
        """Check every constructor argument; raise ValueError/TypeError naming it."""
        hls = self.hidden_layer_sizes
        if isinstance(hls, numbers.Integral) and not isinstance(hls, bool):
            hls = (hls,)
        if isinstance(hls, str) or not isinstance(hls, Sequence):
            raise TypeError(
                f"hidden_layer_sizes: expected a sequence of positive ints such as (100,), got {hls!r}"
            )
        for size in hls:
            if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
                raise ValueError(
                    f"hidden_layer_sizes: every size must be an int >= 1, got {list(hls)!r}"
                )
        if isinstance(self.activation, str):
            get_activation(self.activation)
        else:
            raise TypeError(
                f"activation: expected one of {', '.join(ACTIVATION_NAMES)}, got {self.activation!r}"
            )
        _choice(self.solver, _SOLVERS, "solver")
        _choice(self.learning_rate, _SCHEDULES, "learning_rate")
        _choice(self.dtype, _DTYPES, "dtype")
        _choice(self.on_divergence, ("raise", "halve_lr"), "on_divergence")
        _choice(self.compile, COMPILE_MODES, "compile")
        _number(self.learning_rate_init, "learning_rate_init", low=0.0, low_open=True)
        _number(self.momentum, "momentum", low=0.0, high=1.0, high_open=True)
        _number(self.tol, "tol", low=0.0)
        _number(self.validation_fraction, "validation_fraction", 0.0, 1.0, True, True)
        _number(self.beta_1, "beta_1", low=0.0, high=1.0, high_open=True)
        _number(self.beta_2, "beta_2", low=0.0, high=1.0, high_open=True)
        _number(self.epsilon, "epsilon", low=0.0, low_open=True)
        _number(self.power_t, "power_t", low=0.0)
        _integer(self.max_iter, "max_iter", 1)
        _integer(self.n_iter_no_change, "n_iter_no_change", 1)
        if self.batch_size != "auto":
            _integer(self.batch_size, "batch_size", 1)
        for flag in ("nesterovs_momentum", "shuffle", "early_stopping", "allow_tf32", "warm_start"):
            value = getattr(self, flag)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{flag}: expected True or False, got {value!r}")
        if not isinstance(self.verbose, (bool, numbers.Integral)):
            raise TypeError(f"verbose: expected a bool or an int, got {self.verbose!r}")
        rs = self.random_state
        if rs is not None and (
            isinstance(rs, bool) or not isinstance(rs, numbers.Integral) or rs < 0
        ):
            raise ValueError(f"random_state: expected None or an int >= 0, got {rs!r}")
        n_weights = len(hls) + 1
        per_layer(self.l1, n_weights, "l1")
        per_layer(self.l2, n_weights, "l2")

    def _hidden_sizes(self) -> tuple[int, ...]:
        hls = self.hidden_layer_sizes
        if isinstance(hls, numbers.Integral):
            return (int(hls),)
        return tuple(int(s) for s in hls)

    # ------------------------------------------------------------------ data checks

    def _resolve_backend(self) -> Backend:
        try:
            b = get_backend(self.backend)
        except BackendUnavailableError as e:  # say which argument asked for it
            raise BackendUnavailableError(f"backend={self.backend!r}: {e}") from e
        b.set_tf32(bool(self.allow_tf32))
        return b

    def _check_X(self, X: Any, name: str = "X") -> Any:
        """Validate X: 2-D, numeric, non-empty, finite. Returns an array (host or device)."""
        if not array_api_compat.is_array_api_obj(X) or isinstance(X, (int, float, complex)):
            if X is None:
                raise TypeError(f"{name}: expected a 2-D array of numbers, got None")
            if type(X).__module__.startswith("scipy.sparse"):
                raise TypeError(
                    f"{name}: sparse input ({type(X).__name__}) is not supported; "
                    "convert it to a dense array first, e.g. X.toarray()"
                )
            try:
                X = np.asarray(X)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{name}: could not be read as a 2-D numeric array ({e})") from e
        shape = tuple(X.shape)
        if len(shape) != 2:
            raise ValueError(
                f"{name}: expected a 2-D array (n_samples, n_features), got {len(shape)}-D shape {shape}. "
                "Reshape your data: X.reshape(1, -1) for a single sample, X.reshape(-1, 1) for a single feature"
            )
        if shape[0] == 0:
            raise ValueError(
                f"{name}: found 0 sample(s) (shape={shape}) while a minimum of 1 is required."
            )
        if shape[1] == 0:
            raise ValueError(
                f"{name}: found 0 feature(s) (shape={shape}) while a minimum of 1 is required."
            )
        xp = array_api_compat.array_namespace(X)
        dtype = X.dtype
        if isinstance(X, np.ndarray):
            if dtype.kind == "c":
                raise ValueError(
                    f"{name}: Complex data not supported; expected real numbers, got dtype {dtype}"
                )
            if dtype.kind == "O":
                # numbers held as Python objects (e.g. from a DataFrame) are read as floats
                try:
                    X = X.astype(np.float64)
                except (TypeError, ValueError) as e:
                    raise TypeError(
                        f"{name}: expected numeric data, got dtype object holding a non-number ({e})"
                    ) from e
                dtype = X.dtype
            if dtype.kind not in "biuf":
                raise TypeError(
                    f"{name}: expected numeric data (ints or floats), got dtype {dtype}; "
                    "convert the features to numbers first"
                )
            if dtype.kind == "b":
                X = X.astype(np.float64)
            finite = _all_finite_host(X) if dtype.kind == "f" else True
        else:
            if not (
                xp.isdtype(dtype, "real floating")
                or xp.isdtype(dtype, "integral")
                or dtype == xp.bool
            ):
                if xp.isdtype(dtype, "complex floating"):  # as for NumPy input
                    raise ValueError(
                        f"{name}: Complex data not supported; expected real numbers, got dtype {dtype}"
                    )
                raise TypeError(f"{name}: expected numeric data, got dtype {dtype}")
            if dtype == xp.bool:
                X = xp.astype(X, xp.float32)
            finite = bool(xp.all(xp.isfinite(X))) if xp.isdtype(X.dtype, "real floating") else True
        if not finite:
            raise ValueError(
                f"{name}: contains NaN or infinity; remove or impute those values before fitting"
            )
        if getattr(self, "dtype", None) == "float32":
            _check_float32_range(X, xp, name)
        return X

    def _check_features(self, X: Any, name: str = "X") -> None:
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name} has {X.shape[1]} features, but MLPClassifier is expecting "
                f"{self.n_features_in_} features as input (the number it was fitted with)"
            )

    @staticmethod
    def _check_y(y: Any, n: int, name: str = "y") -> np.ndarray:
        """Labels to a host 1-D NumPy array of length n (numbers or strings)."""
        if y is None:
            raise ValueError(
                f"{name}: MLPClassifier requires y to be passed, but the target y is None"
            )
        host = to_numpy(y) if array_api_compat.is_array_api_obj(y) else None
        if host is None:
            try:
                host = np.asarray(y)
            except (ValueError, TypeError) as e:
                raise ValueError(f"{name}: could not be read as a 1-D array of labels ({e})") from e
            if host.dtype.kind in "US" and host.ndim == 1:
                # NumPy turns [1, "a"] into strings: mixed types must not pass as labels
                host = np.asarray(y, dtype=object)
        if host.ndim == 2 and host.shape[1] == 1:
            raise ValueError(
                f"{name}: expected a 1-D array of labels, got a column of shape {host.shape}; "
                "use y.ravel()"
            )
        if host.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D array of labels, got shape {host.shape}")
        if host.shape[0] != n:
            raise ValueError(
                f"{name}: has {host.shape[0]} labels but X has {n} samples; they must match"
            )
        if host.dtype.kind == "O":
            kinds = {type(v) for v in host}
            if all(issubclass(k, str) for k in kinds):
                host = host.astype(str)
            elif all(issubclass(k, numbers.Integral) for k in kinds):
                host = host.astype(np.int64)
            elif all(issubclass(k, numbers.Real) for k in kinds):
                host = host.astype(np.float64)  # checked for fractions below
            else:
                raise TypeError(
                    f"{name}: labels must all be numbers or all strings, got types "
                    f"{sorted(k.__name__ for k in kinds)}"
                )
        if host.dtype.kind not in "biufU":
            raise TypeError(f"{name}: labels must be integers or strings, got dtype {host.dtype}")
        if host.dtype.kind == "f":
            if not np.isfinite(host).all():
                raise ValueError(f"{name}: labels contain NaN or infinity")
            if not np.all(host == np.round(host)):
                raise ValueError(
                    f"{name}: labels are floats with fractional parts (a continuous, regression target?); "
                    "a classifier needs class labels"
                )
        return host

    # ------------------------------------------------------------------ fitting

    def fit(
        self,
        X: Any,
        y: Any,
        eval_sets: Mapping[str, tuple[Any, Any]] | None = None,
        checkpoint: str | Path | None = None,
        resume: bool = False,
        on_batch: Any = None,
        on_epoch: Any = None,
    ) -> MLPClassifier:
        """Train on ``(X, y)``.

        Args:
            X: features, shape (n_samples, n_features), any backend or a list.
            y: labels, shape (n_samples,), ints or strings.
            eval_sets: ``{"test": (X_test, y_test), ...}``, evaluated each epoch
                into ``history_`` (for learning curves); never trained on.
            checkpoint: path of a checkpoint written atomically at each epoch end.
            resume: continue from ``checkpoint`` when that file exists (the
                interrupted epoch restarts from its start with the saved state).
            on_batch: ``f(batch_index, n_batches)`` after each minibatch (for a
                progress bar); it is given counts only and never reads the device.
            on_epoch: ``f(epoch, metrics)`` after each epoch, metrics being that
                epoch's row of ``history_``.

        Returns:
            self.

        Raises:
            ValueError / TypeError: bad arguments or data (the message names which).
            DivergenceError: the loss became NaN/inf; the estimator keeps its
                last good parameters.
        """
        self._validate_params()
        if eval_sets is not None and not isinstance(eval_sets, Mapping):
            raise TypeError(
                "eval_sets: expected a dict {name: (X, y)}, got " + type(eval_sets).__name__
            )
        if checkpoint is not None and not isinstance(checkpoint, (str, Path)):
            if not hasattr(checkpoint, "__fspath__"):
                raise TypeError(
                    f"checkpoint: expected a path (str or os.PathLike), got {type(checkpoint).__name__}"
                )
        if not isinstance(resume, (bool, np.bool_)):
            raise TypeError(f"resume: expected True or False, got {resume!r}")
        for hook_name, hook in (("on_batch", on_batch), ("on_epoch", on_epoch)):
            if hook is not None and not callable(hook):
                raise TypeError(f"{hook_name}: expected a callable or None, got {hook!r}")
        if resume and checkpoint is None:
            raise ValueError("resume: resume=True needs checkpoint=PATH to resume from")
        b = self._resolve_backend()
        X = self._check_X(X)
        y_host = self._check_y(y, X.shape[0])
        classes, y_idx = np.unique(y_host, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                f"y: needs at least 2 classes to train a classifier, got 1 class: {classes.tolist()}"
            )
        ckpt = None
        if checkpoint is not None and resume and Path(checkpoint).exists():
            ckpt = self._read_checkpoint(checkpoint, X.shape[1], classes, int(X.shape[0]))
        warm = (
            ckpt is None
            and self.warm_start
            and getattr(self, "params_", None) is not None
            and np.array_equal(self.classes_, classes)
        )
        if ckpt is not None:
            seed = ckpt["seed"]
        elif warm:
            seed = getattr(self, "_seed", None)
            seed = self._draw_seed() if seed is None else seed
        else:
            seed = self._draw_seed()
        previous_rng = getattr(self, "_rng", None)
        # a warm start continues the shuffling sequence instead of replaying it
        rng = previous_rng if warm and previous_rng is not None else host_rng(seed)
        self._seed = seed
        self._rng = rng  # partial_fit after fit continues with it
        if self.verbose:
            print(f"xpnet: training on {b.describe()}" + (f" [{b.note}]" if b.note else ""))

        # the validation split comes first from the seed, so a resumed run redraws it identically
        validation = None
        train_rows = None
        if self.early_stopping:
            train_rows, val_rows = _stratified_split(y_idx, self.validation_fraction, rng)
        dtype = self.dtype
        checked_evals = {
            str(name): self._check_eval(name, pair, classes, X.shape[1])
            for name, pair in (eval_sets or {}).items()
        }
        # every set that goes to the device counts: streaming is all or nothing
        stream = self._must_stream(b, X, *(Xe for Xe, _ in checked_evals.values()))
        train_data = self._epoch_data(b, X, y_idx, train_rows, stream)
        if self.early_stopping:
            validation = self._epoch_data(b, X, y_idx, val_rows, stream)
        evals = {
            name: self._epoch_data(b, Xe, ye_idx, None, stream)
            for name, (Xe, ye_idx) in checked_evals.items()
        }
        if ckpt is not None:
            _check_history_columns(checkpoint, ckpt["state"].history, validation, evals)

        n_train = int(train_data.y.shape[0])
        batch = self._batch(n_train)
        sizes = (X.shape[1], *self._hidden_sizes(), classes.shape[0])
        opt = self._optimizer(n_train, batch)
        if ckpt is not None:
            state = ckpt["state"]
            state.params = _params_to(b, state.params, dtype)
            state.best_params = (
                None if state.best_params is None else _params_to(b, state.best_params, dtype)
            )
            state.opt_state = optim.state_from_dict(
                opt, state.opt_state, lambda leaf: b.asarray(leaf, dtype)
            )
        elif warm:
            if tuple(layer_sizes(self.params_)) != tuple(sizes):
                raise ValueError(
                    "warm_start: the data or hidden_layer_sizes changed since the last fit; "
                    "set warm_start=False to start over"
                )
            # continue the epoch count and, when the same sets are evaluated, the history
            previous = getattr(self, "_train_state", None)
            epoch = previous.epoch if previous is not None else int(getattr(self, "n_iter_", 0))
            history = previous.history if previous is not None else {}
            if not check_history(history, validation is not None, evals, "error"):
                history = {}
            opt_state = getattr(self, "_opt_state", None)
            if opt_state is not None:
                opt_state = optim.state_from_dict(opt, optim.state_to_dict(opt_state))
            state = TrainState(
                params=_params_to(b, self.params_, dtype),
                opt_state=opt.init(self.params_) if opt_state is None else opt_state,
                epoch=epoch,
                history=history,
            )
        else:
            params = init_params(sizes, self.activation, b.xp, b.device, dtype, rng)
            state = TrainState(params=params, opt_state=opt.init(params))
        self.classes_ = classes
        self.n_features_in_ = int(X.shape[1])
        self.backend_ = b.name
        self._backend_obj = b
        max_epochs = self.max_iter if not warm else state.epoch + self.max_iter
        on_checkpoint = None
        if checkpoint is not None:
            path = Path(checkpoint)
            n_samples = int(X.shape[0])

            def on_checkpoint(st: TrainState) -> None:
                self._write_checkpoint(path, st, seed, sizes, n_samples)
                self._checkpoint_epoch = st.epoch  # only once the file is in place

        # the epoch the checkpoint file holds, for the message after an interrupt
        self._checkpoint_epoch = None if ckpt is None else state.epoch
        self._run(
            state,
            train_data,
            b,
            rng,
            opt,
            batch,
            max_epochs,
            validation,
            evals,
            on_checkpoint,
            checkpoint,
            on_batch,
            on_epoch,
        )
        return self

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
        on_checkpoint,
        checkpoint,
        on_batch=None,
        on_epoch=None,
    ) -> None:
        n_weights = len(state.params)
        if self.verbose:
            user_on_epoch = on_epoch

            def on_epoch(epoch: int, row: dict) -> None:
                self._print_epoch(epoch, row)
                if user_on_epoch is not None:
                    user_on_epoch(epoch, row)

        spec = StepSpec(
            CROSS_ENTROPY,
            get_activation(self.activation),
            opt,
            per_layer(self.l1, n_weights, "l1"),
            per_layer(self.l2, n_weights, "l2"),
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
        n = train_data.n
        step = build_step(
            spec,
            b,
            mode=mode,
            batch_sizes=(batch, n % batch or batch),
            hidden_sizes=self._hidden_sizes(),
            n_classes=int(self.classes_.shape[0]),
            label_dtype=train_data.y.dtype,
            dtype=train_data.X.dtype if not train_data.on_host else b.dtype(self.dtype),
        )
        callbacks = Callbacks(on_batch, on_epoch, on_checkpoint)
        try:
            # overflow to inf/NaN is detected once per epoch and handled (DivergenceError or
            # halve_lr): NumPy's warnings for it would only be noise
            with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
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
                )
        except DivergenceError as e:
            self._adopt(e.state or state, train_data, batch)
            raise
        except KeyboardInterrupt:
            self._adopt(state, train_data, batch)
            written = getattr(self, "_checkpoint_epoch", None)
            if checkpoint is not None and written is not None:
                # not state.epoch: an interrupt while the file is written leaves the previous one
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
            raise
        self._adopt(state, train_data, batch)
        if state.stopped and self.verbose:
            print(f"xpnet: stopped after epoch {state.epoch}: {state.stopped}")

    def _adopt(self, state: TrainState, train_data: EpochData, batch: int) -> None:
        """Copy the loop's state into the fitted attributes."""
        self.params_ = state.params
        self._opt_state = state.opt_state
        self._train_state = state
        hist = state.history
        self.history_ = hist
        self.n_iter_ = state.epoch
        self.t_ = state.epoch * int(train_data.y.shape[0])
        self.loss_curve_ = list(hist.get("train_loss", []))
        if self.early_stopping and "val_error" in hist:
            self.validation_scores_ = [1.0 - e for e in hist["val_error"]]
            self.best_validation_score_ = max(self.validation_scores_, default=None)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_, default=None)
        self.n_layers_ = len(state.params) + 1
        self.n_outputs_ = int(self.classes_.shape[0])
        self.out_activation_ = "softmax"

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> MLPClassifier:
        """One pass over ``(X, y)`` in minibatches, continuing from the current state.

        Args:
            X, y: a chunk of training data.
            classes: every label that will ever appear; required on the first call.
        """
        self._validate_params()
        X = self._check_X(X)
        y_host = self._check_y(y, X.shape[0])
        first = getattr(self, "params_", None) is None
        if first:
            if classes is None:
                raise ValueError(
                    "classes: must be given on the first call to partial_fit "
                    "(every label that will appear, e.g. classes=np.arange(10))"
                )
            cls = np.unique(self._check_y(classes, _n_labels(classes), "classes"))
            if cls.shape[0] < 2:
                raise ValueError(f"classes: needs at least 2 classes, got {cls.tolist()}")
            self.classes_ = cls
            self.n_features_in_ = int(X.shape[1])
        else:
            self._check_features(X)
            if classes is not None:
                cls = np.unique(self._check_y(classes, _n_labels(classes), "classes"))
                if not np.array_equal(cls, self.classes_):
                    raise ValueError(
                        f"classes: {cls.tolist()} differs from the classes "
                        f"of the first call, {self.classes_.tolist()}"
                    )
        y_idx = _encode(y_host, self.classes_, "y")
        b = self._resolve_backend() if first else self._backend_obj
        train_data = self._epoch_data(b, X, y_idx, None, self._must_stream(b, X))
        n = int(train_data.y.shape[0])
        batch = self._batch(n)
        opt = self._optimizer(n, batch)
        if first:
            self._seed = self._draw_seed()
            self._rng = host_rng(self._seed)
            sizes = (X.shape[1], *self._hidden_sizes(), self.classes_.shape[0])
            params = init_params(sizes, self.activation, b.xp, b.device, self.dtype, self._rng)
            state = TrainState(params=params, opt_state=opt.init(params))
            self.backend_ = b.name
            self._backend_obj = b
        else:
            state = self._train_state
            state.stopped = ""
        self._run(
            state, train_data, b, self._rng, opt, batch, state.epoch + 1, None, {}, None, None
        )
        return self

    # ------------------------------------------------------------------ helpers for fit

    def _draw_seed(self) -> int:
        if self.random_state is not None:
            return int(self.random_state)
        return int(np.random.default_rng().integers(2**63 - 1))

    def _batch(self, n: int) -> int:
        if self.batch_size == "auto":
            return min(200, n)
        return max(1, min(int(self.batch_size), n))

    def _optimizer(self, n_train: int, batch: int) -> optim.Optimizer:
        lr0 = float(self.learning_rate_init)
        if self.learning_rate == "invscaling":
            steps_per_epoch = math.ceil(n_train / batch)
            power_t = float(self.power_t)

            def schedule(count: Any) -> Any:
                # scikit-learn: after each epoch, eta = eta_0 / (t + 1)^power_t, t = samples
                # seen; operators only, so that a traced count works too
                seen = (count // steps_per_epoch) * n_train
                return lr0 / (seen + 1) ** power_t

            lr: Any = schedule
        else:
            lr = lr0
        if self.solver == "adam":
            return optim.adam(lr, float(self.beta_1), float(self.beta_2), float(self.epsilon))
        return optim.sgd(lr, float(self.momentum), bool(self.nesterovs_momentum))

    def _must_stream(self, b: Backend, X: Any, *more: Any) -> bool:
        """True when the data (X and the sets in ``more``) would not fit in the device's free memory."""
        free = b.free_memory()
        if free is None:
            return False
        itemsize = 4 if self.dtype == "float32" else 8
        # features in the model's dtype plus int64 labels, for every set
        needed = sum(int(A.shape[0]) * (int(A.shape[1]) * itemsize + 8) for A in (X, *more))
        if needed <= _DEVICE_MEMORY_FRACTION * free:
            return False
        if self.verbose:
            print(
                f"xpnet: the data need {needed / 2**20:.1f} MiB and {b.name} has "
                f"{free / 2**20:.1f} MiB free: streaming minibatches from the host"
            )
        return True

    def _epoch_data(
        self, b: Backend, X: Any, y_idx: np.ndarray, rows: Any, stream: bool
    ) -> EpochData:
        if stream:
            host = to_numpy(X)
            host = host if rows is None else host[rows]
            labels = y_idx if rows is None else y_idx[rows]
            return EpochData(
                np.ascontiguousarray(host, dtype=self.dtype),
                labels.astype(np.int64),
                on_host=True,
                dtype=self.dtype,
            )
        X_dev = b.asarray(X, self.dtype)
        y_dev = b.asarray(y_idx.astype(np.int64))
        if rows is not None:
            idx = b.asarray(np.asarray(rows, dtype=np.int64))
            X_dev = b.xp.take(X_dev, idx, axis=0)
            y_dev = b.xp.take(y_dev, idx, axis=0)
        return EpochData(X_dev, y_dev)

    def _check_eval(self, name, pair, classes, n_features) -> tuple[Any, np.ndarray]:
        """An eval set checked like the training data: ``(X, label indices)``."""
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"eval_sets[{name!r}]: expected a pair (X, y)")
        Xe = self._check_X(pair[0], f"eval_sets[{name!r}] X")
        if Xe.shape[1] != n_features:
            raise ValueError(
                f"eval_sets[{name!r}] X: has {Xe.shape[1]} features, the training data {n_features}"
            )
        ye = self._check_y(pair[1], Xe.shape[0], f"eval_sets[{name!r}] y")
        return Xe, _encode(ye, classes, f"eval_sets[{name!r}] y")

    def _print_epoch(self, epoch: int, row: dict) -> None:
        parts = [
            f"epoch {epoch:4d}",
            f"loss {row['train_loss']:.4f}",
            f"err {row['train_error']:.4f}",
        ]
        for key, value in row.items():
            if key.endswith("_error") and key != "train_error":
                parts.append(f"{key[:-6]} err {value:.4f}")
        parts.append(f"{row['seconds']:.2f}s")
        print("  ".join(parts))

    # ------------------------------------------------------------------ prediction

    def _check_fitted(self) -> None:
        if getattr(self, "params_", None) is None:
            raise _not_fitted_error(
                "This MLPClassifier instance is not fitted yet; call fit (or load a model) first"
            )

    def _logits(self, X: Any) -> Any:
        """Logits on the estimator's backend, computed in chunks."""
        self._check_fitted()
        X = self._check_X(X)
        self._check_features(X)
        b = self._backend_obj
        outs = []
        n = int(X.shape[0])
        for start in range(0, n, _PREDICT_CHUNK):
            # a stop past the end is not in the array API standard: clip it
            chunk = X[start : min(start + _PREDICT_CHUNK, n), ...]
            logits, _ = forward(self.params_, b.asarray(chunk, self.dtype), self.activation, b.xp)
            outs.append(logits)
        return outs[0] if len(outs) == 1 else b.xp.concat(outs, axis=0)

    def _like_input(self, arr: Any, X: Any) -> Any:
        """``arr`` in the namespace (and on the device) of the input ``X``."""
        if isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
            return to_numpy(arr)
        return get_backend(X).asarray(arr)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities softmax(o_a), shape (n, n_classes), in X's namespace."""
        from .functional import softmax

        return self._like_input(softmax(self._logits(X), self._backend_obj.xp), X)

    def predict_log_proba(self, X: Any) -> Any:
        """log softmax(o_a), computed stably (no log of 0), shape (n, n_classes)."""
        from .functional import log_softmax

        return self._like_input(log_softmax(self._logits(X), self._backend_obj.xp), X)

    def predict(self, X: Any) -> Any:
        """Predicted labels, shape (n,); in X's namespace (NumPy for string labels)."""
        logits = self._logits(X)  # checks first that the model is fitted
        xp = self._backend_obj.xp
        idx = xp.argmax(logits, axis=-1)
        if self.classes_.dtype.kind in "biuf" and not (
            isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X)
        ):
            target = get_backend(X)
            return target.xp.take(target.asarray(self.classes_), target.asarray(idx), axis=0)
        return self.classes_[to_numpy(idx)]

    def score(self, X: Any, y: Any) -> float:
        """Mean accuracy of ``predict(X)`` against ``y``."""
        pred = to_numpy(self.predict(X))
        truth = self._check_y(y, pred.shape[0])
        if (truth.dtype.kind == "U") != (self.classes_.dtype.kind == "U"):
            raise TypeError(
                f"y: labels of dtype {truth.dtype} cannot be compared with this model's "
                f"classes of dtype {self.classes_.dtype} (strings vs numbers)"
            )
        return float(np.mean(pred == truth))

    # ------------------------------------------------------------------ files

    def _meta(self, sizes: Sequence[int]) -> dict:
        params = {}
        for key, value in self.get_params().items():
            if key == "backend":
                value = value if isinstance(value, str) else self.backend_
            if isinstance(value, tuple):
                value = list(value)
            if isinstance(value, (np.generic,)):
                value = value.item()
            params[key] = value
        return {
            "xpnet_version": __version__,
            "activation": get_activation(self.activation).name,
            "dtype": self.dtype,
            "layer_sizes": [int(s) for s in sizes],
            "hyperparams": params,
            "n_iter": int(getattr(self, "n_iter_", 0)),
            "trained_on": getattr(self, "backend_", None),
        }

    @staticmethod
    def _classes_array(classes: np.ndarray) -> np.ndarray:
        if classes.dtype.kind == "O":
            raise TypeError("classes_: labels of mixed types cannot be saved")
        return classes

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to ``path`` (``.npz``, no pickle, atomic)."""
        self._check_fitted()
        meta = {
            "format": _io.MODEL_FORMAT,
            "format_version": _io.FORMAT_VERSION,
            **self._meta(layer_sizes(self.params_)),
        }
        arrays = _io.model_arrays([(to_numpy(W), to_numpy(b)) for W, b in self.params_])
        arrays["classes"] = self._classes_array(self.classes_)
        return _io.write_archive(path, meta, arrays)

    @classmethod
    def load(cls, path: str | Path, backend: Any = "auto") -> MLPClassifier:
        """Read a model saved by ``save`` onto ``backend``.

        The file is treated as untrusted: never unpickled, and checked against
        its metadata. Raises ValueError for a damaged, crafted or foreign file.
        """
        meta, arrays = _io.read_archive(path, _io.MODEL_FORMAT)
        params, classes = _io.check_model(path, meta, arrays)
        clf = cls._from_meta(path, meta)
        clf.backend = backend
        b = clf._resolve_backend()
        clf.params_ = _params_to(b, params, clf.dtype)
        clf.classes_ = classes
        clf.n_features_in_ = int(meta["layer_sizes"][0])
        clf.backend_ = b.name
        clf._backend_obj = b
        clf.n_iter_ = int(meta.get("n_iter", 0)) if isinstance(meta.get("n_iter"), int) else 0
        clf.n_layers_ = len(params) + 1
        clf.n_outputs_ = int(classes.shape[0])
        clf.out_activation_ = "softmax"
        clf.loss_curve_ = []
        clf.history_ = {}
        clf.validation_scores_ = None
        clf._opt_state = None
        clf._train_state = None
        return clf

    @classmethod
    def _from_meta(cls, path: Any, meta: dict) -> MLPClassifier:
        hyper = meta.get("hyperparams", {})
        if not isinstance(hyper, dict):
            raise ValueError(f"{path}: metadata 'hyperparams' must be an object")
        clf = cls()
        names = set(cls._get_param_names())
        for key, value in hyper.items():
            if key in names and key != "backend":
                setattr(
                    clf,
                    key,
                    tuple(value)
                    if key == "hidden_layer_sizes" and isinstance(value, list)
                    else value,
                )
        clf.activation = meta["activation"]
        clf.dtype = meta["dtype"]
        clf.hidden_layer_sizes = tuple(meta["layer_sizes"][1:-1])
        try:
            clf._validate_params()
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: stored hyperparameters are invalid ({e})") from e
        return clf

    def _write_checkpoint(
        self, path: Path, state: TrainState, seed: int, sizes: tuple, n_samples: int = 0
    ) -> None:
        meta = {**self._meta(sizes), "seed": int(seed), "n_samples": int(n_samples)}
        flat = dataclasses.replace(state, opt_state=optim.state_to_dict(state.opt_state))
        _io.save_checkpoint(path, flat, meta, self._classes_array(self.classes_))

    def _read_checkpoint(
        self, path: Any, n_features: int, classes: np.ndarray, n_samples: int | None = None
    ) -> dict:
        state, meta, stored_classes = _io.load_checkpoint(path)
        sizes = meta["layer_sizes"]
        expected = [n_features, *self._hidden_sizes(), int(classes.shape[0])]
        if sizes != expected:
            raise ValueError(
                f"{path}: checkpoint has layer sizes {sizes}, this run needs {expected}; "
                "resume with the same data and hidden_layer_sizes, or pass resume=False"
            )
        stored_n = meta.get("n_samples")
        if n_samples is not None and isinstance(stored_n, int) and stored_n not in (0, n_samples):
            raise ValueError(
                f"{path}: checkpoint was written for {stored_n} samples, this run has {n_samples}; "
                "resume with the same data, or pass resume=False"
            )
        stored = meta.get("hyperparams", {})
        if not isinstance(stored, dict):
            raise ValueError(f"{path}: metadata 'hyperparams' must be an object")
        for key in _RESUME_SETTINGS:
            mine = _jsonable_param(getattr(self, key))
            if key == "activation":
                mine = get_activation(mine).name
                theirs = meta.get("activation")
            else:
                theirs = stored.get(key)
            if key == "dtype" and theirs == mine:
                theirs = meta["dtype"]  # the arrays' dtype too (checked by load_checkpoint)
            if key == "random_state" and (mine is None or theirs is None):
                continue  # the checkpoint's seed decides
            if theirs != mine:
                raise ValueError(
                    f"{path}: checkpoint was written with {key}={theirs!r}, this run has {mine!r}; "
                    "resume with the same settings, or pass resume=False"
                )
        if stored_classes is None or not np.array_equal(stored_classes, classes):
            raise ValueError(f"{path}: checkpoint's classes differ from the labels in y")
        seed = meta.get("seed")
        if not isinstance(seed, int):
            raise ValueError(f"{path}: metadata 'seed' must be an int")
        return {"state": state, "seed": seed}


# ---------------------------------------------------------------------- module helpers

_SKLEARN_NOT_FITTED: dict = {}


def _not_fitted_error(message: str) -> NotFittedError:
    """A ``NotFittedError``; while scikit-learn is loaded, also an instance of its own.

    scikit-learn's tools catch ``sklearn.exceptions.NotFittedError``. This module
    never imports scikit-learn: it only looks the class up when something else
    has loaded it.
    """
    sk_exceptions = sys.modules.get("sklearn.exceptions")
    base = getattr(sk_exceptions, "NotFittedError", None)
    if base is None:
        return NotFittedError(message)
    if base not in _SKLEARN_NOT_FITTED:
        _SKLEARN_NOT_FITTED[base] = type(
            "NotFittedError", (NotFittedError, base), {"__module__": __name__}
        )
    return _SKLEARN_NOT_FITTED[base](message)


#: Settings a resumed run must share with the checkpoint (they decide the rest of the run).
_RESUME_SETTINGS = (
    "activation",
    "solver",
    "dtype",
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


def _jsonable_param(value: Any) -> Any:
    """A constructor argument as it reads back from JSON metadata (tuples as lists)."""
    if isinstance(value, (tuple, list)):
        return [_jsonable_param(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _check_history_columns(path: Any, history: dict, validation: Any, evals: Mapping) -> None:
    """A resumed run must record the same history columns as the checkpoint holds."""
    from .train import history_keys

    expected = history_keys(validation is not None, evals, "error")
    if set(history) != set(expected):
        raise ValueError(
            f"{path}: checkpoint's history has columns {sorted(history)}, this run records "
            f"{sorted(expected)}; resume with the same eval_sets, or pass resume=False"
        )


def _all_finite_host(X: np.ndarray, rows: int = 8192) -> bool:
    """True when no element of X is NaN or inf; checked in blocks of rows, so the
    boolean mask never takes more than a block's memory."""
    return all(bool(np.isfinite(X[i : i + rows]).all()) for i in range(0, X.shape[0], rows))


def _choice(value: Any, options: tuple, name: str) -> None:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(map(repr, options))}, got {value!r}")


def _number(
    value: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    bad_low = low is not None and (v <= low if low_open else v < low)
    bad_high = high is not None and (v >= high if high_open else v > high)
    if bad_low or bad_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        span = f"{lo}, {hi}" if high is not None else (f"> {low:g}" if low_open else f">= {low:g}")
        raise ValueError(f"{name}: expected a value in {span}, got {value!r}")


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_float32_range(X: Any, xp: Any, name: str) -> None:
    """Wider floats beyond float32's range would turn into inf on the device: refuse them."""
    if isinstance(X, np.ndarray):
        if X.dtype.kind != "f" or X.dtype.itemsize <= 4:
            return
        biggest = float(np.max(np.abs(X)))
    else:
        if X.dtype != getattr(xp, "float64", None):
            return
        biggest = float(xp.max(xp.abs(X)))
    if biggest > _FLOAT32_MAX:
        raise ValueError(
            f"{name}: holds values up to {biggest:g}, beyond the float32 range "
            f"(+-{_FLOAT32_MAX:.3g}) this model computes in; scale the features or use "
            "dtype='float64'"
        )


def _n_labels(y: Any) -> int:
    """The length of a label array or sequence (0 for a scalar or a ragged nest)."""
    shape = getattr(y, "shape", None)
    if shape is None:
        try:
            shape = np.shape(y)
        except (ValueError, TypeError):
            return 0
    return int(shape[0]) if len(shape) >= 1 else 0


def _integer(value: Any, name: str, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int >= {low}, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")


def _encode(y_host: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Map labels to 0..m-1 indices of ``classes``; unknown labels raise ValueError."""
    idx = np.searchsorted(classes, y_host)
    idx = np.clip(idx, 0, classes.shape[0] - 1)
    bad = classes[idx] != y_host
    if np.any(bad):
        unknown = np.unique(y_host[bad])[:5].tolist()
        raise ValueError(
            f"{name}: labels {unknown} are not among the classes {classes.tolist()[:20]}"
        )
    return idx.astype(np.int64)


def _stratified_split(y_idx: np.ndarray, fraction: float, rng: np.random.Generator):
    """Host indices (train, validation): each class split in proportion, order shuffled."""
    n = y_idx.shape[0]
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise ValueError(
            f"validation_fraction: {fraction} of {n} samples leaves nothing to train on"
        )
    perm = rng.permutation(n)
    classes = np.unique(y_idx)
    val = []
    for c in classes:
        members = perm[y_idx[perm] == c]
        take = int(round(fraction * members.shape[0]))
        val.append(members[:take])
    val_rows = np.concatenate(val) if val else np.empty(0, dtype=np.int64)
    if val_rows.shape[0] == 0:
        val_rows = perm[:n_val]
    mask = np.ones(n, dtype=bool)
    mask[val_rows] = False
    train_rows = perm[mask[perm]]
    if train_rows.shape[0] == 0:
        raise ValueError("validation_fraction: leaves no training samples")
    return np.sort(train_rows), np.sort(val_rows)


def _params_to(b: Backend, params: list, dtype: str) -> list:
    return [(b.asarray(W, dtype), b.asarray(bias, dtype)) for W, bias in params]
