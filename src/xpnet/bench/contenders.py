"""What is timed: each contender trains the workload's network and reports how long it took.

Contenders by name (the table's rows):

* ``xpnet-<backend>``: ``xpnet.MLPClassifier`` on that backend; with
  ``--loop`` also ``xpnet-<backend>-loop``: ``xpnet.train.train`` called
  directly on data already on the device;
* ``numpy-hand``: the same math as a hand-written NumPy loop;
* ``sklearn``: ``sklearn.neural_network.MLPClassifier``;
* ``torch-eager:<device>``: PyTorch eager.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend as _backend
from .environment import library_about
from .workloads import LEARNING_RATE, SEED, Workload

# Backends and peers, by the names the options take.
XPNET_BACKENDS = ("numpy", "torch:cpu", "cupy", "torch:cuda", "array_api_strict")
DEFAULT_CPU_BACKENDS = ("numpy", "torch:cpu", "cupy", "torch:cuda")
PEERS = ("hand", "sklearn", "torch")


@dataclass
class Timing:
    """One run: seconds of the training passes, of the whole call, and the last epoch's loss."""

    train_s: float
    fit_s: float | None
    loss: float | None


@dataclass
class Contender:
    """A way of training the workload.

    Attributes:
        name: row label, also the ``--memory`` argument.
        run: ``(X, y, init, wl, epochs) -> Timing``.
        library: the matmul library it runs on (``numpy``, ``torch:cpu``,
            ``cupy``, ``torch:cuda``, ``array_api_strict``), for the GEMM floor.
        gpu: runs on a CUDA device.
        sync: blocks until the device is idle (None on the CPU).
        imports: loads what the contender needs (before a memory baseline).
        device_peak: ``() -> bytes`` of device memory at the peak, or None.
        about: versions and settings of what it runs on, for the report.
        steps: when set, time this many minibatches and extrapolate to the epoch.
    """

    name: str
    run: Callable[..., Timing]
    library: str
    gpu: bool = False
    sync: Callable[[], None] | None = None
    imports: Callable[[], None] = lambda: None
    device_peak: Callable[[], int | None] | None = None
    about: Callable[[], str] = lambda: ""
    steps: int | None = None


def _xpnet_contender(spec: str, tf32: bool, loop: bool = False) -> Contender:
    """xpnet through the estimator (what users get) or, with ``loop``, ``train.train`` directly."""
    b = _backend.get_backend(spec)
    name = f"xpnet-{spec}" + ("-loop" if loop else "")

    def run_estimator(X, y, init, wl, epochs) -> Timing:
        from ..estimator import MLPClassifier

        clf = MLPClassifier(
            hidden_layer_sizes=wl.hidden,
            activation="relu",
            solver="sgd",
            learning_rate_init=LEARNING_RATE,
            momentum=0.0,
            batch_size=wl.batch,
            max_iter=epochs,
            shuffle=False,
            tol=0.0,
            n_iter_no_change=epochs + 1,
            backend=b.name,
            dtype="float32",
            allow_tf32=tf32,
            random_state=SEED,
        )
        b.sync()
        t0 = time.perf_counter()
        clf.fit(X, y)
        b.sync()
        fit_s = time.perf_counter() - t0
        # the loop's own per-epoch clock: from the first minibatch to the epoch's
        # loss read back from the device (which waits for the device)
        hist = clf.history_
        return Timing(float(sum(hist["seconds"])), fit_s, float(hist["train_loss"][-1]))

    def run_loop(X, y, init, wl, epochs) -> Timing:
        from .. import optim
        from ..train import EpochData, TrainState, train

        b.set_tf32(tf32)
        t0 = time.perf_counter()
        data = EpochData(b.asarray(X, "float32"), b.asarray(y))
        params = [(b.asarray(W), b.asarray(bias)) for W, bias in init]
        opt = optim.sgd(LEARNING_RATE)
        state = TrainState(params=params, opt_state=opt.init(params))
        zeros = (0.0,) * len(params)
        b.sync()
        t1 = time.perf_counter()
        state = train(
            state,
            data,
            activation="relu",
            optimizer=opt,
            l1s=zeros,
            l2s=zeros,
            batch_size=wl.batch,
            max_epochs=epochs,
            rng=_backend.host_rng(SEED),
            backend=b,
            shuffle=False,
            n_iter_no_change=epochs + 1,
            tol=0.0,
        )
        b.sync()
        t2 = time.perf_counter()
        return Timing(t2 - t1, t2 - t0, float(state.history["train_loss"][-1]))

    return Contender(
        name,
        run_loop if loop else run_estimator,
        library=spec,
        gpu=b.is_gpu,
        sync=b.sync if b.is_gpu else None,
        imports=lambda: _backend.get_backend(spec),
        device_peak=_device_peak_probe(b) if b.is_gpu else None,
        about=lambda: f"xpnet on {b.describe()}; {library_about(b.library)}",
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
    t1 = time.perf_counter()
    loss = None
    for _ in range(epochs):
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
    t2 = time.perf_counter()
    return Timing(t2 - t1, t2 - t0, loss)


def _run_sklearn(X, y, init, wl, epochs) -> Timing:
    """scikit-learn's MLPClassifier with the same weights, batches and learning rate."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    class TimedMLPClassifier(MLPClassifier):
        # starts from the same weights as the others and clocks its SGD loop apart from
        # input checks and set-up; both hooks are private: without them the numbers
        # are the whole fit from scikit-learn's own initial weights
        def _init_coef(self, fan_in, fan_out, dtype):
            W, b = init[self._bench_layer]
            self._bench_layer += 1
            return np.ascontiguousarray(W.T, dtype=dtype), np.array(b, dtype=dtype)

        def _fit_stochastic(self, *args, **kwargs):
            t = time.perf_counter()
            try:
                return super()._fit_stochastic(*args, **kwargs)
            finally:
                self._bench_train_s = time.perf_counter() - t

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
    train_s = getattr(clf, "_bench_train_s", fit_s)
    return Timing(train_s, fit_s, float(clf.loss_curve_[-1]))


def _torch_contender(device: str, tf32: bool) -> Contender:
    """PyTorch eager: nn.Linear, nn.ReLU, nn.CrossEntropyLoss, optim.SGD."""
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
        Xt = torch.from_numpy(X).to(dev)
        yt = torch.from_numpy(y).to(dev)
        loss_fn = torch.nn.CrossEntropyLoss()
        opt = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE)
        n = X.shape[0]
        if gpu:
            sync()
        t1 = time.perf_counter()
        loss = None
        for _ in range(epochs):
            loss_sum = torch.zeros((), device=dev)
            for start in range(0, n, wl.batch):
                stop = min(start + wl.batch, n)
                opt.zero_grad(set_to_none=True)
                batch_loss = loss_fn(model(Xt[start:stop]), yt[start:stop])
                batch_loss.backward()
                opt.step()
                loss_sum += batch_loss.detach() * (stop - start)
            loss = float(loss_sum) / n  # one read of the device per epoch
        if gpu:
            sync()
        t2 = time.perf_counter()
        return Timing(t2 - t1, t2 - t0, loss)

    probe = None
    if gpu:

        def probe() -> int:
            return int(torch.cuda.max_memory_allocated(dev))

        torch.cuda.reset_peak_memory_stats(dev)
    lib = "torch:cuda" if gpu else "torch:cpu"
    return Contender(
        f"torch-eager:{dev.type}",
        run,
        library=lib,
        gpu=gpu,
        sync=sync if gpu else None,
        imports=lambda: None,
        device_peak=probe,
        about=lambda: f"PyTorch eager on {b.describe()}; {library_about('torch')}",
    )


def _importable(name: str) -> bool:
    """True when ``name`` can be imported (found without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _split(text: str | None) -> list[str]:
    return [s.strip() for s in (text or "").split(",") if s.strip()]


def contender_names(
    wl: Workload, backends: str | None, peers: str | None, loop: bool, skipped: list[str]
) -> list[str]:
    """The contenders asked for (or the workload's default); ``skipped`` gets those not installed.

    Whether a backend's device is usable is found out by its worker, not here,
    so this process imports no array library besides NumPy.
    """
    if backends is None:
        specs = ["numpy", "cupy", "torch:cuda"] if wl.gpu_only else list(DEFAULT_CPU_BACKENDS)
    elif backends.strip().lower() == "all":
        specs = list(XPNET_BACKENDS)
    else:
        specs = _split(backends)
    names = []
    for spec in specs:
        names.append(f"xpnet-{spec}")
        if loop:
            names.append(f"xpnet-{spec}-loop")

    if peers is None:
        wanted = ["torch:cuda"] if wl.gpu_only else list(PEERS)
    elif peers.strip().lower() == "none":
        wanted = []
    else:
        wanted = _split(peers)
    for peer in wanted:
        if peer not in (*PEERS, "torch:cpu", "torch:cuda"):
            raise ValueError(
                f"--peers: unknown peer {peer!r}; expected a comma-separated list of "
                f"{', '.join(PEERS)}, torch:cpu, torch:cuda, or 'none'"
            )
        if peer == "hand":
            names.append("numpy-hand")
        elif peer == "sklearn":
            if _importable("sklearn"):
                names.append("sklearn")
            else:
                skipped.append("sklearn: scikit-learn is not installed (pip install scikit-learn)")
        elif not _importable("torch"):
            skipped.append(f"torch-eager ({peer}): PyTorch is not installed")
        else:
            devices = {"torch": ["cpu", "cuda"], "torch:cpu": ["cpu"], "torch:cuda": ["cuda"]}
            names.extend(f"torch-eager:{d}" for d in devices[peer])
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
    elif name.startswith("torch-eager:"):
        if not _importable("torch"):
            raise _backend.BackendUnavailableError("PyTorch is not installed")
        c = _torch_contender(name.removeprefix("torch-eager:"), tf32)
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
