"""What is timed: each contender trains the workload's network and reports how long each epoch took.

Contenders by name (the table's rows):

* ``xpnet-<backend>``: ``xpnet.MLPClassifier`` on that backend (``numpy``,
  ``torch:cpu``, ``cupy``, ``torch:cuda``, ``array_api_strict``); with
  ``--loop`` also ``xpnet-<backend>-loop``: ``xpnet.train.train`` called
  directly on data already on the device;
* ``xpnet-jax-jit`` / ``xpnet-jax-eager``: the estimator on JAX
  (``backend="jax:cpu"``, or ``"jax"`` where JAX has a GPU) with
  ``compile="jit"`` / ``compile="none"``; ``xpnet-torch-compiled``: on
  PyTorch (``backend="torch"``) with ``compile="jit"`` (``torch.compile``).
  Where the installed xpnet does not take that backend or ``compile=`` value
  yet they are skipped, with the estimator's message;
* ``numpy-hand``: the same math as a hand-written NumPy loop, the floor of an
  eager NumPy implementation (in-place updates, no dX for the input layer);
* ``sklearn``: ``sklearn.neural_network.MLPClassifier`` (solver="sgd",
  momentum=0, alpha=0, float32 input);
* ``torch-eager:<device>``: ``nn.Linear`` / ``nn.ReLU`` /
  ``CrossEntropyLoss`` / ``optim.SGD``; ``torch-compiled:<device>``: the same
  model through ``torch.compile`` (only when asked for: ``--peers
  torch-compiled``).

Every contender times each epoch on its own, by the same rule: from the
epoch's first minibatch to its loss read back on the host (which waits for
the device), data already where it trains.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as _backend
from .environment import library_about
from .workloads import LEARNING_RATE, SEED, Workload

# Backends, compiled variants and peers, by the names the options take.
XPNET_BACKENDS = ("numpy", "torch:cpu", "cupy", "torch:cuda", "array_api_strict")
#: variant -> (the library it needs, the estimator's ``compile=`` value)
XPNET_VARIANTS = {
    "jax-jit": ("jax", "jit"),
    "jax-eager": ("jax", "none"),
    "torch-compiled": ("torch", "jit"),
}
DEFAULT_CPU_BACKENDS = ("numpy", "torch:cpu", "cupy", "torch:cuda", *XPNET_VARIANTS)
PEERS = ("hand", "sklearn", "torch")
#: Peers that run only when asked for (compilation takes long).
EXTRA_PEERS = ("torch-compiled",)
#: What a compiled variant's estimator raises when it does not take its backend or
#: ``compile=`` value (yet): the contender is skipped with the message.
UNSUPPORTED = (ValueError, TypeError, _backend.BackendUnavailableError)


@dataclass
class Timing:
    """One run: seconds of each epoch's training passes, of the whole call, the last loss."""

    epochs: list[float]
    fit_s: float | None
    loss: float | None

    @property
    def train_s(self) -> float:
        return float(sum(self.epochs))

    @property
    def steady(self) -> float:
        """The median epoch after the first (the only epoch when there is one)."""
        later = self.epochs[1:] or self.epochs
        return float(statistics.median(later))

    @property
    def first_extra(self) -> float | None:
        """The first epoch minus the steady state: compilation, first-call set-up (None: 1 epoch)."""
        return self.epochs[0] - self.steady if len(self.epochs) > 1 else None


@dataclass
class Contender:
    """A way of training the workload.

    Attributes:
        name: row label, also the ``--worker`` argument.
        run: ``(X, y, init, wl, epochs) -> Timing``.
        library: the matmul library it runs on (``numpy``, ``torch:cpu``,
            ``cupy``, ``torch:cuda``, ``array_api_strict``, ``jax:cpu``), for
            the GEMM floor.
        gpu: runs on a CUDA device.
        sync: blocks until the device is idle (None on the CPU).
        imports: loads what the contender needs (before a memory baseline).
        device_peak: ``() -> bytes`` of device memory at the peak, or None.
        about: versions and settings of what it runs on, for the report.
        steps: when set, time this many minibatches and extrapolate to the epoch.
        unsupported: exceptions of its first run that mean "cannot run with
            this xpnet" (reported as skipped, with the message).
    """

    name: str
    run: Callable[..., Timing]
    library: str
    gpu: bool = False
    sync: Callable[[], None] | None = None
    imports: Callable[[], object] = lambda: None
    device_peak: Callable[[], int | None] | None = None
    about: Callable[[], str] = lambda: ""
    steps: int | None = None
    unsupported: tuple[type[BaseException], ...] = ()


def _estimator_run(
    backend: str, tf32: bool, sync: Callable[[], None], compile: str | None = None
) -> Callable[..., Timing]:
    """``run`` for xpnet's estimator: ``MLPClassifier(backend=..., compile=...)`` (what users get)."""

    def run(X, y, init, wl, epochs) -> Timing:
        from ..estimator import MLPClassifier

        # compile= only when asked for: an xpnet without it then still runs the rest
        extra: dict[str, Any] = {} if compile is None else {"compile": compile}
        clf = MLPClassifier(
            hidden_layer_sizes=wl.hidden,
            activation="relu",
            solver="sgd",
            alpha=0.0,  # the same objective as every peer: no penalty
            learning_rate_init=LEARNING_RATE,
            momentum=0.0,
            batch_size=wl.batch,
            max_iter=epochs,
            shuffle=False,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            backend=backend,
            dtype="float32",
            allow_tf32=tf32,
            random_state=SEED,
            **extra,
        )
        sync()
        t0 = time.perf_counter()
        clf.fit(X, y)
        sync()
        fit_s = time.perf_counter() - t0
        # the loop's own per-epoch clock: from the first minibatch to the epoch's
        # loss read back from the device (which waits for the device)
        hist = clf.history_
        return Timing([float(s) for s in hist["seconds"]], fit_s, float(hist["train_loss"][-1]))

    return run


def _xpnet_contender(spec: str, tf32: bool, loop: bool = False) -> Contender:
    """xpnet through the estimator or, with ``loop``, ``train.train`` directly."""
    b = _backend.get_backend(spec)
    name = f"xpnet-{spec}" + ("-loop" if loop else "")

    def run_loop(X, y, init, wl, epochs) -> Timing:
        from .. import optim
        from ..functional import get_activation
        from ..losses import CROSS_ENTROPY
        from ..step import StepSpec, build_step
        from ..train import EpochData, TrainConfig, TrainState, train

        b.set_tf32(tf32)
        t0 = time.perf_counter()
        data = EpochData(b.asarray(X, "float32"), b.asarray(y))
        params = [(b.asarray(W), b.asarray(bias)) for W, bias in init]
        opt = optim.sgd(LEARNING_RATE)
        state = TrainState(params=params, opt_state=opt.init(params))
        zeros = (0.0,) * len(params)
        spec = StepSpec(CROSS_ENTROPY, get_activation("relu"), opt, zeros, zeros)
        mode = b.compile_mode("auto")
        config = TrainConfig(
            spec,
            batch_size=wl.batch,
            max_epochs=epochs,
            shuffle=False,
            n_iter_no_change=epochs + 1,
            tol=0.0,
            compile=mode,
        )
        n = data.n
        step = build_step(
            spec,
            b,
            mode=mode,
            batch_sizes=(wl.batch, n % wl.batch or wl.batch),
            hidden_sizes=tuple(wl.hidden),
            n_classes=int(init[-1][0].shape[0]),
            label_dtype=data.y.dtype,
            dtype=data.X.dtype,
        )
        b.sync()
        state = train(state, data, config, step, rng=_backend.host_rng(SEED), backend=b)
        b.sync()
        hist = state.history
        seconds = [float(s) for s in hist["seconds"]]
        return Timing(seconds, time.perf_counter() - t0, float(hist["train_loss"][-1]))

    return Contender(
        name,
        run_loop if loop else _estimator_run(b.name, tf32, b.sync),
        library=spec,
        gpu=b.is_gpu,
        sync=b.sync if b.is_gpu else None,
        imports=lambda: _backend.get_backend(spec),
        device_peak=_device_peak_probe(b) if b.is_gpu else None,
        about=lambda: f"xpnet on {b.describe()}; {library_about(b.library)}",
    )


def _xpnet_variant(variant: str, tf32: bool) -> Contender:
    """xpnet's estimator on JAX or PyTorch with a ``compile=`` mode (see the module docstring).

    Raises:
        BackendUnavailableError: the library is not importable.
    """
    library, mode = XPNET_VARIANTS[variant]
    b: _backend.Backend | None
    if library == "jax":
        try:
            import jax
        except Exception as e:  # not installed, or a broken install
            raise _backend.BackendUnavailableError(
                f"JAX is not importable ({type(e).__name__}: {e})"
            ) from e
        gpu = jax.default_backend() != "cpu"
        spec = "jax" if gpu else "jax:cpu"
        lib = spec
    else:
        b = _backend.get_backend("torch")  # CUDA where usable, else the CPU
        spec, gpu = "torch", b.is_gpu
        lib = "torch:cuda" if gpu else "torch:cpu"
    try:  # the backend as the installed xpnet sees it: None where it does not know it
        b = _backend.get_backend(spec)
    except (ValueError, _backend.BackendUnavailableError):
        b = None

    def sync() -> None:
        if b is not None:
            b.sync()

    def about() -> str:
        where = b.describe() if b is not None else spec
        return f"xpnet on {where}, compile={mode!r}; {library_about(library)}"

    return Contender(
        f"xpnet-{variant}",
        _estimator_run(spec, tf32, sync, compile=mode),
        library=lib,
        gpu=gpu,
        sync=sync if gpu else None,
        device_peak=(
            _device_peak_probe(b)
            if gpu and b is not None and b.library in ("cupy", "torch")
            else None
        ),
        about=about,
        unsupported=UNSUPPORTED,
    )


def _device_peak_probe(b: Any) -> Callable[[], int | None]:
    """A function reporting the device memory high-water mark of ``b`` (reset when made)."""
    if b.library == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
        # the pool keeps what it has grown to: its total is the peak in use, to a block
        return lambda: int(pool.total_bytes())
    import torch

    torch.cuda.reset_peak_memory_stats(b.device)
    return lambda: int(torch.cuda.max_memory_allocated(b.device))


def _run_hand(X, y, init, wl, epochs) -> Timing:
    """The same training in plain NumPy, written as one would by hand (in place where it can)."""
    t0 = time.perf_counter()
    params = [(W.copy(), b.copy()) for W, b in init]
    lr = np.float32(LEARNING_RATE)
    n = X.shape[0]
    all_rows = np.arange(wl.batch)
    loss = None
    seconds = []
    for _ in range(epochs):
        start_epoch = time.perf_counter()
        loss_sum = 0.0
        for start in range(0, n, wl.batch):
            stop = min(start + wl.batch, n)
            xb, yb, rows = X[start:stop], y[start:stop], all_rows[: stop - start]
            inputs = [xb]  # the input of each layer
            h = xb
            for W, b in params[:-1]:
                h = h @ W.T
                h += b
                np.maximum(h, 0, out=h)
                inputs.append(h)
            W, b = params[-1]
            z = h @ W.T
            z += b
            z -= z.max(axis=1, keepdims=True)
            picked = z[rows, yb]
            np.exp(z, out=z)
            total = z.sum(axis=1)
            loss_sum += float(np.log(total).sum() - picked.sum())
            z /= total[:, None]  # softmax
            z[rows, yb] -= 1.0
            z *= np.float32(1.0 / (stop - start))  # dR/dlogits of the batch mean
            grad = z
            for k in range(len(params) - 1, -1, -1):
                W, b = params[k]
                grad_W = grad.T @ inputs[k]
                grad_b = grad.sum(axis=0)
                if k:  # no dX for the input layer
                    grad = grad @ W
                    grad *= inputs[k] > 0
                grad_W *= lr
                W -= grad_W
                grad_b *= lr
                b -= grad_b
        loss = loss_sum / n
        seconds.append(time.perf_counter() - start_epoch)
    return Timing(seconds, time.perf_counter() - t0, loss)


def _run_sklearn(X, y, init, wl, epochs) -> Timing:
    """scikit-learn's MLPClassifier with the same weights, batches and learning rate."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    class TimedMLPClassifier(MLPClassifier):
        # starts from the same weights as the others and clocks each epoch of its SGD
        # loop apart from input checks; the hooks are private: without them the epochs
        # are the whole fit split evenly, from scikit-learn's own initial weights
        def _init_coef(self, fan_in, fan_out, dtype):
            W, b = init[self._bench_layer]
            self._bench_layer += 1
            return np.ascontiguousarray(W.T, dtype=dtype), np.array(b, dtype=dtype)

        def _fit_stochastic(self, *args, **kwargs):
            self._bench_stamps = [time.perf_counter()]
            return super()._fit_stochastic(*args, **kwargs)

        def _update_no_improvement_count(self, *args, **kwargs):
            # called once per epoch, right after the epoch's loss is known
            self._bench_stamps.append(time.perf_counter())
            return super()._update_no_improvement_count(*args, **kwargs)

    clf = TimedMLPClassifier(
        hidden_layer_sizes=wl.hidden,
        activation="relu",
        solver="sgd",
        alpha=0.0,
        batch_size=wl.batch,
        learning_rate="constant",
        learning_rate_init=LEARNING_RATE,
        max_iter=epochs,
        shuffle=False,
        momentum=0.0,
        nesterovs_momentum=False,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        random_state=SEED,
    )
    clf._bench_layer = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        clf.fit(X, y)
        fit_s = time.perf_counter() - t0
    stamps = getattr(clf, "_bench_stamps", [])
    if len(stamps) == epochs + 1:
        seconds = [b - a for a, b in zip(stamps[:-1], stamps[1:], strict=True)]
    else:
        seconds = [fit_s / epochs] * epochs
    return Timing(seconds, fit_s, float(clf.loss_curve_[-1]))


def _torch_contender(device: str, tf32: bool, compiled: bool = False) -> Contender:
    """PyTorch eager (nn.Linear, nn.ReLU, nn.CrossEntropyLoss, optim.SGD), or through torch.compile."""
    b = _backend.get_backend(f"torch:{device}")  # says why when it cannot run
    import torch

    dev = b.device
    gpu = b.is_gpu

    def sync() -> None:
        torch.cuda.synchronize(dev)

    def run(X, y, init, wl, epochs) -> Timing:
        if gpu:
            torch.backends.cuda.matmul.allow_tf32 = tf32
            sync()
        t0 = time.perf_counter()
        layers: list = []
        for k, (W, b) in enumerate(init):
            linear = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if k < len(init) - 1:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers).to(dev)
        opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
        forward = torch.compile(model) if compiled else model  # compiles at its first call
        Xt = torch.from_numpy(X).to(dev)
        yt = torch.from_numpy(y).to(dev)
        loss_fn = torch.nn.CrossEntropyLoss()
        n = X.shape[0]
        if gpu:
            sync()
        loss = None
        seconds = []
        for _ in range(epochs):
            start_epoch = time.perf_counter()
            loss_sum = torch.zeros((), device=dev)
            for start in range(0, n, wl.batch):
                stop = min(start + wl.batch, n)
                opt.zero_grad(set_to_none=True)
                batch_loss = loss_fn(forward(Xt[start:stop]), yt[start:stop])
                batch_loss.backward()
                opt.step()
                loss_sum += batch_loss.detach() * (stop - start)
            loss = float(loss_sum) / n  # one read of the device per epoch
            seconds.append(time.perf_counter() - start_epoch)
        return Timing(seconds, time.perf_counter() - t0, loss)

    probe = None
    if gpu:

        def probe() -> int:
            return int(torch.cuda.max_memory_allocated(dev))

        torch.cuda.reset_peak_memory_stats(dev)
    lib = "torch:cuda" if gpu else "torch:cpu"
    how = "torch.compile" if compiled else "eager"
    return Contender(
        f"torch-{'compiled' if compiled else 'eager'}:{dev.type}",
        run,
        library=lib,
        gpu=gpu,
        sync=sync if gpu else None,
        imports=lambda: None,
        device_peak=probe,
        about=lambda: f"PyTorch {how} on {b.describe()}; {library_about('torch')}",
    )


# ----------------------------------------------------------------------------- selection


def _importable(name: str) -> bool:
    """True when ``name`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _split(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


_INSTALL = {
    "jax": 'JAX is not installed (pip install "jax[cpu]")',
    "torch": "PyTorch is not installed",
}


def contender_names(
    wl: Workload, backends: str | None, peers: str | None, loop: bool, skipped: list[str]
) -> list[str]:
    """The contenders asked for (or the workload's default); ``skipped`` gets those not installed.

    Whether a backend's device is usable is found out by its worker, not here,
    so this process imports no array library besides NumPy.

    Raises:
        ValueError: an unknown peer.
    """
    if backends is None:
        specs = ["numpy", "cupy", "torch:cuda"] if wl.gpu_only else list(DEFAULT_CPU_BACKENDS)
    elif backends.strip().lower() == "all":
        specs = [*XPNET_BACKENDS, *XPNET_VARIANTS]
    else:
        specs = _split(backends)
    names = []
    for spec in specs:
        if spec in XPNET_VARIANTS:
            library = XPNET_VARIANTS[spec][0]
            if not _importable(library):
                skipped.append(f"xpnet-{spec}: {_INSTALL[library]}")
                continue
        names.append(f"xpnet-{spec}")
        if loop and spec not in XPNET_VARIANTS:
            names.append(f"xpnet-{spec}-loop")

    if peers is None:
        wanted = ["torch:cuda"] if wl.gpu_only else list(PEERS)
    elif peers.strip().lower() == "none":
        wanted = []
    else:
        wanted = _split(peers)
    torch_peers = {
        "torch": ("eager", ["cpu", "cuda"]),
        "torch:cpu": ("eager", ["cpu"]),
        "torch:cuda": ("eager", ["cuda"]),
        "torch-compiled": ("compiled", ["cpu", "cuda"]),
        "torch-compiled:cpu": ("compiled", ["cpu"]),
        "torch-compiled:cuda": ("compiled", ["cuda"]),
    }
    for peer in wanted:
        if peer not in ("hand", "sklearn", *torch_peers):
            raise ValueError(
                f"--peers: unknown peer {peer!r}; expected a comma-separated list of "
                f"{', '.join(PEERS)}, torch:cpu, torch:cuda, torch-compiled[:cpu|:cuda], "
                "or 'none'"
            )
        if peer == "hand":
            names.append("numpy-hand")
        elif peer == "sklearn":
            if _importable("sklearn"):
                names.append("sklearn")
            else:
                skipped.append("sklearn: scikit-learn is not installed (pip install scikit-learn)")
        else:
            how, devices = torch_peers[peer]
            if not _importable("torch"):
                skipped.append(f"torch-{how} ({peer}): PyTorch is not installed")
            else:
                names.extend(f"torch-{how}:{d}" for d in devices)
    return list(dict.fromkeys(names))


def contender_by_name(name: str, wl: Workload, tf32: bool) -> Contender:
    """The contender called ``name``, importing only what it needs.

    Raises:
        ValueError: no such contender.
        BackendUnavailableError: it cannot run here.
    """
    if name == "numpy-hand":
        c = Contender(name, _run_hand, "numpy", about=lambda: library_about("numpy"))
    elif name == "sklearn":

        def about() -> str:
            import sklearn

            return f"scikit-learn {sklearn.__version__}; {library_about('numpy')}"

        c = Contender(name, _run_sklearn, "numpy", imports=_import_sklearn, about=about)
    elif name.startswith(("torch-eager:", "torch-compiled:")):
        if not _importable("torch"):
            raise _backend.BackendUnavailableError("PyTorch is not installed")
        how, device = name.removeprefix("torch-").split(":", 1)
        c = _torch_contender(device, tf32, compiled=how == "compiled")
    elif name.removeprefix("xpnet-") in XPNET_VARIANTS:
        c = _xpnet_variant(name.removeprefix("xpnet-"), tf32)
    elif name.startswith("xpnet-"):
        spec = name.removeprefix("xpnet-")
        loop = spec.endswith("-loop")
        c = _xpnet_contender(spec.removesuffix("-loop"), tf32, loop)
    else:
        raise ValueError(f"no contender called {name!r}")
    if wl.gpu_only and not c.gpu:
        c.steps = wl.cpu_steps
    return c


def _import_sklearn() -> None:
    import sklearn.neural_network  # noqa: F401
