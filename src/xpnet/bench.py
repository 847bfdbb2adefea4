"""Timing xpnet's training against its peers, in one run: ``xpnet bench`` / ``python -m xpnet.bench``.

Every contender trains the same network (ReLU hidden layers, softmax
cross-entropy, plain SGD, learning rate 0.01) on the same synthetic float32
data (a fixed NumPy seed), from the same initial weights, in the same
minibatches in the same order (no shuffling):

* ``xpnet-<backend>``: ``xpnet.MLPClassifier(max_iter=epochs, shuffle=False)``
  on each backend present (numpy, torch:cpu; cupy and torch:cuda with a GPU;
  array_api_strict only when asked for). With ``--loop`` also
  ``xpnet-<backend>-loop``: ``xpnet.train.train`` called directly on data
  already on the device;
* ``numpy-hand``: the same math as a hand-written NumPy loop, the floor of an
  eager NumPy implementation (in-place updates, no dX for the input layer);
* ``sklearn``: ``sklearn.neural_network.MLPClassifier`` (solver="sgd",
  momentum=0, alpha=0, float32 input);
* ``torch-eager:<device>``: ``nn.Linear`` / ``nn.ReLU`` / ``CrossEntropyLoss`` /
  ``optim.SGD`` on the CPU, and on CUDA when a GPU is there.

Each contender lives in its own worker process (``--worker NAME``), so thread
pools of different libraries (OpenBLAS, OpenMP, MKL) never compete and each
library is imported alone. A worker imports what its contender needs, notes
its resident set size (RSS), makes the data and trains once: that first run
is the warm-up, and the rise of the peak RSS over the RSS after imports (data
creation included) is the ``peak MB`` column. Then ``--repeats`` rounds: each
round asks every worker, one at a time, for one timed run, starting with a
different contender each round; the median is reported. ``s/epoch`` covers
the training passes alone (data already where they train, weights
initialised; it ends when the parameters and the epoch's loss are ready,
after a device sync); ``fit s`` is the whole call from host NumPy arrays
(input checks, initialisation, moving the data to the device). Nothing here
asserts on time.

Example:
    $ python -m xpnet.bench --workload digits
    $ python -m xpnet.bench --workload mnist --repeats 5
    $ python -m xpnet.bench --workload large --tf32       # on a CUDA machine
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import backend as _backend

__all__ = ["WORKLOADS", "Workload", "main"]

#: Seed of the data, the teacher labelling it and the initial weights.
SEED = 0
#: The learning rate every contender uses.
LEARNING_RATE = 0.01
#: Starts each line of the worker protocol (a JSON object follows).
WORKER_TAG = "XPNET_BENCH "
#: Seconds between two timed runs, so the last worker's threads stop spinning first.
PAUSE_S = 0.2
#: What ``--threads`` sets in each worker's environment.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# Backends and peers, by the names the options take.
XPNET_BACKENDS = ("numpy", "torch:cpu", "cupy", "torch:cuda", "array_api_strict")
DEFAULT_CPU_BACKENDS = ("numpy", "torch:cpu", "cupy", "torch:cuda")
PEERS = ("hand", "sklearn", "torch")


# ----------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Workload:
    """One benchmark problem.

    Attributes:
        name: the ``--workload`` name.
        n, d: samples and features of the synthetic data.
        hidden: hidden layer sizes.
        classes: number of classes.
        batch: minibatch size.
        epochs: epochs per timed run.
        repeats: default number of timed rounds.
        gpu_only: CPU contenders are left out by default, except xpnet-numpy,
            which is timed on ``cpu_steps`` minibatches and extrapolated.
        cpu_steps: minibatches a sub-sampled CPU run times.
    """

    name: str
    n: int
    d: int
    hidden: tuple[int, ...]
    classes: int
    batch: int
    epochs: int
    repeats: int = 3
    gpu_only: bool = False
    cpu_steps: int = 1

    @property
    def sizes(self) -> tuple[int, ...]:
        """``(d, h_1, ..., m)``."""
        return (self.d, *self.hidden, self.classes)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n / self.batch)

    @property
    def data_bytes(self) -> int:
        """Bytes of the float32 feature matrix."""
        return self.n * self.d * 4

    @property
    def matmul_flops_per_epoch(self) -> int:
        """Matmul FLOPs of one epoch: per layer 2 GEMMs (forward, dW) plus dX above the first.

        For one hidden layer that is forward 2 GEMMs + backward 3 GEMMs (no dX for
        the input layer): ``2 n (2 d h + 3 h m)``.
        """
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        per_sample = 2 * sum(i * o for i, o in pairs) + sum(i * o for i, o in pairs[1:])
        return 2 * self.n * per_sample

    def describe(self) -> str:
        arch = " -> ".join(str(s) for s in self.sizes)
        epochs = f"{self.epochs} epoch" + ("s" if self.epochs > 1 else "")
        return (
            f"{self.name}: {self.n:,} x {self.d:,} float32, {arch}, batch {self.batch}, "
            f"{epochs} ({self.steps_per_epoch} steps/epoch), SGD lr {LEARNING_RATE}"
        )


WORKLOADS = {
    "tiny": Workload("tiny", 600, 20, (16,), 3, 64, 2),
    "digits": Workload("digits", 1797, 64, (100,), 10, 32, 20, repeats=11),
    "mnist": Workload("mnist", 60_000, 784, (256,), 10, 128, 1, repeats=5),
    "large": Workload("large", 8192, 4096, (4096,), 10, 4096, 1, repeats=5, gpu_only=True),
}


def make_data(wl: Workload) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic float32 features (standard normal) and int64 labels from a random linear teacher."""
    rng = np.random.default_rng(SEED)
    X = rng.standard_normal((wl.n, wl.d), dtype=np.float32)
    teacher = rng.standard_normal((wl.d, wl.classes), dtype=np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.int64)
    y[: wl.classes] = np.arange(wl.classes)  # every class present
    return X, y


def initial_params(wl: Workload) -> list:
    """The initial weights every contender starts from: those of ``MLPClassifier(random_state=SEED)``."""
    from .mlp import init_params

    params = init_params(wl.sizes, "relu", dtype="float32", seed=SEED)
    return [(_backend.to_numpy(W), _backend.to_numpy(b)) for W, b in params]


# ----------------------------------------------------------------------------- contenders


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
        from .estimator import MLPClassifier

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
        from . import optim
        from .train import EpochData, TrainState, train

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
        about=lambda: f"xpnet on {b.describe()}; {_library_about(b.library)}",
    )


def _library_about(library: str) -> str:
    """Version and threading of a library, read from the imported module."""
    if library in ("numpy", "array_api_strict"):
        return f"numpy {np.__version__}, BLAS {_blas_description()}"
    if library == "torch":
        import torch

        mkl = "MKL" if torch.backends.mkl.is_available() else "no MKL"
        return f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {mkl}"
    if library == "cupy":
        import cupy

        runtime = cupy.cuda.runtime.runtimeGetVersion()
        return f"cupy {cupy.__version__}, CUDA runtime {runtime // 1000}.{runtime % 1000 // 10}"
    return library


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
        about=lambda: f"PyTorch eager on {b.describe()}; {_library_about('torch')}",
    )


# ----------------------------------------------------------------------------- selection


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
        c = Contender(name, _run_hand, "numpy", about=lambda: _library_about("numpy"))
    elif name == "sklearn":

        def about() -> str:
            import sklearn

            return f"scikit-learn {sklearn.__version__}; {_library_about('numpy')}"

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


# ----------------------------------------------------------------------------- one run


def _one_run(c: Contender, X, y, init, wl: Workload) -> Timing:
    """Train ``wl.epochs`` epochs (or ``c.steps`` minibatches, extrapolated to the epoch)."""
    if c.steps is None:
        return c.run(X, y, init, wl, wl.epochs)
    rows = min(wl.n, c.steps * wl.batch)
    t = c.run(X[:rows], y[:rows], init, wl, wl.epochs)
    scale = wl.steps_per_epoch / math.ceil(rows / wl.batch)
    return Timing(t.train_s * scale, None, t.loss)


def matmul_rate(library: str, M: int, K: int, N: int, tf32: bool, seconds: float = 0.25) -> float:
    """Measured float32 FLOP/s of ``A @ W.T``, A (M, K) and W (N, K), on a backend (best of 3)."""
    b = _backend.get_backend(library)
    b.set_tf32(tf32)
    rng = np.random.default_rng(SEED)
    A = b.asarray(rng.standard_normal((M, K), dtype=np.float32))
    W = b.asarray(rng.standard_normal((N, K), dtype=np.float32))
    for _ in range(3):
        A @ W.T
    b.sync()
    best = 0.0
    for _ in range(3):
        calls = 0
        t0 = time.perf_counter()
        while True:
            A @ W.T
            calls += 1
            if calls % 4 == 0:
                b.sync()
                if time.perf_counter() - t0 >= seconds:
                    break
        elapsed = time.perf_counter() - t0
        best = max(best, 2.0 * M * K * N * calls / elapsed)
    return best


# ----------------------------------------------------------------------------- memory


def _proc_status(key: str) -> int | None:
    """A ``VmRSS:``-style field of /proc/self/status in bytes (Linux), else None."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _rss_peak() -> int | None:
    """Peak resident set size in bytes since start, or since the last ``_reset_peak``."""
    peak = _proc_status("VmHWM:")
    if peak is not None:
        return peak
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):
        return None


def _reset_peak() -> None:
    """Reset the peak RSS to the current RSS, where the kernel allows it (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


# ----------------------------------------------------------------------------- worker


def worker_main(name: str, wl: Workload, tf32: bool) -> int:
    """``--worker NAME``: serve one contender to the parent over stdin / stdout.

    On start: import, note the RSS, make the data, train once (the warm-up and
    the memory run) and reply ``{"ready": ...}``, or ``{"error": why}`` when
    the contender cannot run here. Then one reply per command line: ``run``
    (a timed run), ``rate M K N`` (the matmul rate), ``quit``.
    """

    def reply(obj: dict) -> None:
        sys.stdout.write(WORKER_TAG + json.dumps(obj) + "\n")
        sys.stdout.flush()

    try:
        c = contender_by_name(name, wl, tf32)
        c.imports()
    except (_backend.BackendUnavailableError, ImportError, ValueError) as e:
        reply({"error": str(e)})
        return 0
    base = _proc_status("VmRSS:") or _rss_peak()
    _reset_peak()
    X, y = make_data(wl)
    init = initial_params(wl)
    try:
        first = _one_run(c, X, y, init, wl)
    except Exception as e:  # report it, the other contenders go on
        reply({"error": f"the first run failed: {type(e).__name__}: {e}"})
        return 1
    if c.sync is not None:
        c.sync()
    peak = _rss_peak()
    reply(
        {
            "ready": True,
            "library": c.library,
            "gpu": c.gpu,
            "extrapolated": c.steps is not None,
            "about": c.about(),
            "rise": None if peak is None or base is None else peak - base,
            "device_peak": c.device_peak() if c.device_peak is not None else None,
            "first": asdict(first),
        }
    )
    for line in sys.stdin:
        command = line.split()
        if not command or command[0] == "quit":
            break
        try:
            if command[0] == "run":
                reply(asdict(_one_run(c, X, y, init, wl)))
            elif command[0] == "rate":
                M, K, N = (int(v) for v in command[1:4])
                reply({"rate": matmul_rate(c.library, M, K, N, tf32)})
            else:
                reply({"error": f"unknown command {command[0]!r}"})
        except Exception as e:
            reply({"error": f"{type(e).__name__}: {e}"})
    return 0


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, name: str, wl: Workload, tf32: bool, threads: int | None = None):
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, "-m", "xpnet.bench", "--worker", name, "--workload", wl.name]
        if tf32:
            cmd.append("--tf32")
        env = dict(os.environ)
        if threads is not None:
            for var in THREAD_VARIABLES:
                env[var] = str(threads)
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
        )
        self.ready = self._reply()
        self.timings: list[Timing] = []

    def _reply(self) -> dict:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(WORKER_TAG):
                return json.loads(line[len(WORKER_TAG) :])
        self.proc.wait()
        self._stderr.seek(0)
        tail = [s for s in self._stderr.read().strip().splitlines() if s.strip()][-1:]
        why = tail[0][:200] if tail else "no output"
        return {"error": f"worker exited with status {self.proc.returncode}: {why}"}

    def ask(self, command: str) -> dict:
        """Send one command and wait for its reply."""
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            return {"error": "worker is gone"}
        return self._reply()

    def close(self) -> None:
        try:
            if self.proc.poll() is None and self.proc.stdin is not None:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=30)
        except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()


# ----------------------------------------------------------------------------- start-up


def measure_startup(runs: int = 7) -> dict:
    """Whole-process seconds of ``python -c "import numpy"`` and ``"import xpnet"`` (medians).

    Also lists which heavy optional modules ``import xpnet`` loads (there should be none).
    """
    code = {"numpy": "import numpy", "xpnet": "import xpnet"}
    times: dict[str, list[float]] = {k: [] for k in code}
    for _ in range(runs):
        for key, stmt in code.items():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", stmt], check=True)
            times[key].append(time.perf_counter() - t0)
    probe = (
        "import sys, xpnet; print(','.join(m for m in ('torch', 'cupy', 'sklearn', 'matplotlib') "
        "if m in sys.modules))"
    )
    heavy = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stdout.strip()
    return {
        "numpy": statistics.median(times["numpy"]),
        "xpnet": statistics.median(times["xpnet"]),
        "heavy": [m for m in heavy.split(",") if m],
    }


# ----------------------------------------------------------------------------- report


def _fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    return f"{s:.4f}" if s < 1 else f"{s:.3f}" if s < 100 else f"{s:.1f}"


def _fmt_mb(b: float | None) -> str:
    return "-" if b is None else f"{b / 2**20:.0f}"


def _blas_description() -> str:
    """NumPy's BLAS library, kernel and threads (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (install threadpoolctl to see the kernel)"
    found = []
    for info in threadpool_info():
        if info.get("user_api") != "blas" or "numpy" not in str(info.get("filepath", "")):
            continue
        arch = info.get("architecture") or info.get("corename") or "?"
        found.append(
            f"{info.get('internal_api')} {info.get('version')}, kernel {arch}, "
            f"{info.get('num_threads')} threads"
        )
    return "; ".join(found) or "unknown"


def _environment_lines() -> list[str]:
    try:
        load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        load = "n/a"
    lines = [
        f"machine: {platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load} (1/5/15 min); Python {platform.python_version()}",
        f"numpy {np.__version__}, BLAS {_blas_description()}",
    ]
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if var in os.environ:
            lines.append(
                f"note: {var}={os.environ[var]} is set: OpenBLAS may pick a slower kernel; "
                "to time, unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE in that command"
            )
    return lines


@dataclass
class Row:
    """One contender's summary."""

    name: str
    per_epoch: float
    spread: float
    fastest: float
    fit_s: float | None
    loss: float | None
    library: str
    gpu: bool
    extrapolated: bool
    rise: int | None
    device_peak: int | None


def summarize(worker: Worker, wl: Workload) -> Row:
    ready = worker.ready
    fits = [t.fit_s for t in worker.timings if t.fit_s is not None]
    losses = [t.loss for t in worker.timings if t.loss is not None]
    train = [t.train_s for t in worker.timings]
    return Row(
        worker.name,
        statistics.median(train) / wl.epochs,
        (max(train) - min(train)) / statistics.median(train),
        min(train) / wl.epochs,
        statistics.median(fits) if fits else None,
        losses[-1] if losses else None,
        ready["library"],
        bool(ready["gpu"]),
        bool(ready["extrapolated"]),
        ready.get("rise"),
        ready.get("device_peak"),
    )


def table_lines(rows: Sequence[Row], wl: Workload) -> list[str]:
    """The results table: one row per contender."""
    ref = next((r for r in rows if r.name == "xpnet-numpy"), None)
    any_gpu = any(r.gpu for r in rows)
    header = ["contender", "s/epoch", "spread", "fastest", "samples/s", "us/step", "fit s", "loss"]
    header.append("peak MB")
    if any_gpu:
        header.append("GPU MB")
    header.append("x xpnet-numpy")
    table = [header]
    for r in rows:
        cells = [
            r.name + (" *" if r.extrapolated else ""),
            _fmt_time(r.per_epoch),
            f"{100 * r.spread:.0f}%",
            _fmt_time(r.fastest),
            f"{wl.n / r.per_epoch:,.0f}",
            f"{r.per_epoch / wl.steps_per_epoch * 1e6:,.0f}",
            _fmt_time(r.fit_s),
            "-" if r.loss is None else f"{r.loss:.4f}",
            _fmt_mb(r.rise),
        ]
        if any_gpu:
            cells.append(_fmt_mb(r.device_peak))
        cells.append("-" if ref is None else f"{r.per_epoch / ref.per_epoch:.2f}")
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = []
    for k, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  " + "  ".join(cells))
        if k == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return lines


def gemm_floor_lines(
    rows: Sequence[Row], wl: Workload, rates: dict[str, float], shape: tuple[int, int, int]
) -> tuple[list[str], dict[str, float]]:
    """The GEMM floor per library and each contender's achieved fraction of the matmul rate."""
    flops = wl.matmul_flops_per_epoch
    M, K, N = shape
    lines = [
        f"GEMM floor: {flops / 1e9:.3g} GFLOP of matmul per epoch (forward 2 GEMMs + backward 3, "
        f"no dX for the input layer), at the float32 rate of A({M} x {K}) @ W.T({K} x {N}) "
        "measured in this run:"
    ]
    for lib, rate in rates.items():
        lines.append(
            f"  {lib:<17} {rate / 1e9:9.1f} GFLOP/s   floor {_fmt_time(flops / rate)} s/epoch"
        )
    fractions: dict[str, float] = {}
    lines.append("achieved fraction of that matmul rate (floor / s per epoch):")
    for r in rows:
        rate = rates.get(r.library)
        if rate is None:
            continue
        fractions[r.name] = (flops / rate) / r.per_epoch
        lines.append(f"  {r.name:<24} {100 * fractions[r.name]:5.1f} %")
    return lines, fractions


@dataclass
class Target:
    """A goal from the performance issue and whether this run meets it."""

    what: str
    value: float | None
    limit: float
    higher_is_better: bool = False
    unit: str = ""
    why_missing: str = ""
    fastest: float | None = None  # the same ratio between the fastest runs, for noisy machines

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured" + (f" ({self.why_missing})" if self.why_missing else "")
        ok = self.value >= self.limit if self.higher_is_better else self.value <= self.limit
        if ok:
            return "met"
        return f"MISSED by {abs(self.value / self.limit - 1) * 100:.0f} %"

    def line(self) -> str:
        if self.value is None:
            return f"  {self.what}: {self.status}"
        sign = ">=" if self.higher_is_better else "<="
        if self.unit == "%":
            shown = f"{100 * self.value:.1f} % (target {sign} {100 * self.limit:.0f} %)"
        elif self.unit == "MB":
            shown = f"{self.value:.0f} MB (target {sign} {self.limit:.0f} MB)"
        else:
            shown = f"{self.value:.2f} (target {sign} {self.limit:.2f})"
        if self.fastest is not None:
            shown += f" [fastest runs: {self.fastest:.2f}]"
        return f"  {self.what} = {shown}: {self.status}"


#: CPU targets: xpnet-numpy's time per epoch over each peer's, at most.
CPU_TARGETS = {
    "mnist": {"sklearn": 0.70, "torch-eager:cpu": 0.80, "numpy-hand": 1.10},
    "digits": {"sklearn": 0.50, "torch-eager:cpu": 0.35, "numpy-hand": 1.5},
}


def speed_targets(
    rows: Sequence[Row], wl: Workload, fractions: dict[str, float], gpu_seen: bool
) -> list[Target]:
    by = {r.name: r for r in rows}

    def ratio(a: str, b: str) -> float | None:
        return by[a].per_epoch / by[b].per_epoch if a in by and b in by else None

    def fastest(a: str, b: str) -> float | None:
        return by[a].fastest / by[b].fastest if a in by and b in by else None

    def missing(*names: str) -> str:
        absent = [n for n in names if n not in by]
        return ", ".join(absent) + " not run" if absent else ""

    no_gpu = "" if gpu_seen else "no CUDA device"
    targets = []
    for peer, limit in CPU_TARGETS.get(wl.name, {}).items():
        targets.append(
            Target(
                f"{wl.name} CPU: xpnet-numpy / {peer}",
                ratio("xpnet-numpy", peer),
                limit,
                why_missing=missing("xpnet-numpy", peer),
                fastest=fastest("xpnet-numpy", peer),
            )
        )
    if wl.name == "mnist":
        targets.append(
            Target(
                "mnist GPU: xpnet-cupy / torch-eager:cuda",
                ratio("xpnet-cupy", "torch-eager:cuda"),
                1.5,
                why_missing=no_gpu or missing("xpnet-cupy", "torch-eager:cuda"),
                fastest=fastest("xpnet-cupy", "torch-eager:cuda"),
            )
        )
    if wl.name == "large":
        gpu_rows = [r.name for r in rows if r.gpu and r.name.startswith("xpnet-")]
        for name in gpu_rows or ["xpnet-cupy"]:
            targets.append(
                Target(
                    f"large GPU: {name}, fraction of the measured float32 matmul rate",
                    fractions.get(name),
                    0.80,
                    higher_is_better=True,
                    unit="%",
                    why_missing=no_gpu or missing(name),
                )
            )
            targets.append(
                Target(
                    f"large GPU: speed-up of {name} over xpnet-numpy (numpy extrapolated)",
                    ratio("xpnet-numpy", name),
                    10.0,
                    higher_is_better=True,
                    why_missing=no_gpu or missing(name, "xpnet-numpy"),
                )
            )
    return targets


def memory_target(rows: Sequence[Row], wl: Workload) -> Target | None:
    ref = next((r for r in rows if r.name == "xpnet-numpy"), None)
    if ref is None or ref.rise is None or ref.extrapolated:
        return None
    mb = 2**20
    return Target(
        f"memory: xpnet-numpy peak RSS rise over 'import xpnet' (limit 1.25 x "
        f"{wl.data_bytes / mb:.0f} MB data + 100 MB)",
        ref.rise / mb,
        (1.25 * wl.data_bytes + 100 * mb) / mb,
        unit="MB",
    )


def startup_targets(st: dict) -> list[Target]:
    heavy = st["heavy"]
    return [
        Target(
            f"start-up: 'import xpnet' / 'import numpy', whole process "
            f"({st['xpnet']:.3f} s / {st['numpy']:.3f} s)",
            st["xpnet"] / st["numpy"],
            1.5,
        ),
        Target(
            "start-up: heavy modules (torch, cupy, sklearn, matplotlib) loaded by 'import xpnet'"
            + (f" [{', '.join(heavy)}]" if heavy else ""),
            float(len(heavy)),
            0.0,
        ),
    ]


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="xpnet bench",
        description="Time the same MLP training in xpnet (each backend), a hand-written "
        "NumPy loop, scikit-learn and PyTorch eager; print a table and the performance targets.",
    )
    p.add_argument(
        "--workload",
        choices=sorted(WORKLOADS),
        default="digits",
        help="mnist: 60,000 x 784, hidden 256, batch 128, 1 epoch; digits: 1,797 x 64, "
        "hidden 100, batch 32, 20 epochs; large: 8,192 x 4,096, hidden 4,096, batch 4,096 "
        "(GPU); tiny: for tests (default: digits)",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="timed rounds after the warm-up; the median is reported (default: 11 for digits, "
        "5 for mnist and large, 3 for tiny)",
    )
    p.add_argument(
        "--backends",
        default=None,
        help="xpnet backends, comma-separated (default: numpy, torch:cpu, cupy, torch:cuda, "
        "those that run here; for large: numpy, timed on one minibatch, cupy, torch:cuda); "
        "'all' adds array_api_strict (slow)",
    )
    p.add_argument(
        "--peers",
        default=None,
        help="comma-separated from hand, sklearn, torch (CPU and CUDA), torch:cpu, torch:cuda; "
        "or 'none' (default: hand, sklearn, torch; for large: torch:cuda)",
    )
    p.add_argument(
        "--tf32", action="store_true", help="allow TF32 matmuls on CUDA (all contenders)"
    )
    p.add_argument(
        "--loop",
        action="store_true",
        help="also time xpnet.train.train called directly on device data (rows '-loop')",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for every contender (sets OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, "
        "MKL_NUM_THREADS in the workers; default: each library's own choice)",
    )
    p.add_argument("--no-startup", action="store_true", help="skip the import-time measurement")
    p.add_argument("--worker", metavar="CONTENDER", help=argparse.SUPPRESS)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its report; returns the exit status.

    0 when it ran (whether or not the targets are met: nothing here asserts on
    time), 1 when no contender could run, 2 for bad arguments.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    wl = WORKLOADS[args.workload]
    if args.worker:
        return worker_main(args.worker, wl, args.tf32)
    repeats = wl.repeats if args.repeats is None else args.repeats
    for value, option in ((repeats, "--repeats"), (args.threads or 1, "--threads")):
        if value < 1:
            parser.print_usage(sys.stderr)
            print(f"xpnet bench: error: {option} must be >= 1", file=sys.stderr)
            return 2
    skipped: list[str] = []
    try:
        names = contender_names(wl, args.backends, args.peers, args.loop, skipped)
    except ValueError as e:
        parser.print_usage(sys.stderr)
        print(f"xpnet bench: error: {e}", file=sys.stderr)
        return 2

    def out(line: str = "") -> None:
        print(line, flush=True)

    out(f"xpnet bench -- workload {wl.describe()}")
    for line in _environment_lines():
        out(line)
    out(f"TF32 on CUDA: {'allowed (--tf32)' if args.tf32 else 'off (exact float32)'}")
    if args.threads is not None:
        out(f"threads: {args.threads} per contender ({', '.join(THREAD_VARIABLES)})")
    out(f"starting {len(names)} worker(s), one at a time; each trains once (warm-up + memory)")

    workers: list[Worker] = []
    try:
        for name in names:
            w = Worker(name, wl, args.tf32, args.threads)
            if "error" in w.ready:
                default_gpu = args.backends is None and name in ("xpnet-cupy", "xpnet-torch:cuda")
                why = w.ready["error"]
                skipped.append(f"{name}: {why.split(';')[0] if default_gpu else why}")
                w.close()
                continue
            out(f"  {name}: {w.ready['about']}")
            workers.append(w)
        for line in skipped:
            out(f"  skipped {line}")
        if not workers:
            out("nothing could run")
            return 1
        gpu_seen = any(w.ready["gpu"] for w in workers)
        if wl.gpu_only and not gpu_seen:
            out("note: 'large' is a GPU workload and no CUDA device is usable here")
        out(f"timing: {repeats} round(s), round-robin, median reported")
        for r in range(repeats):
            shift = r % len(workers)
            for w in [*workers[shift:], *workers[:shift]]:
                if "error" in w.ready:
                    continue
                time.sleep(PAUSE_S)
                got = w.ask("run")
                if "error" in got:
                    w.ready = {"error": got["error"]}
                    out(f"  {w.name} failed: {got['error']}")
                else:
                    w.timings.append(Timing(**got))
            out(f"  round {r + 1}/{repeats} done")
        workers = [w for w in workers if "error" not in w.ready and w.timings]
        rows = [summarize(w, wl) for w in workers]
        shape = (wl.batch, wl.d, wl.hidden[0])
        rates: dict[str, float] = {}
        for w, row in zip(workers, rows, strict=True):
            if row.library not in rates:
                got = w.ask("rate {} {} {}".format(*shape))
                if "rate" in got:
                    rates[row.library] = float(got["rate"])
    finally:
        for w in workers:
            w.close()

    out()
    out(
        f"results: s/epoch = training passes only ({wl.epochs} epoch(s) per run), median; spread "
        "= (slowest - fastest) / median; fastest = the fastest run, s/epoch; fit s = the "
        "whole fit call from host NumPy data; loss = mean training loss of the last epoch; "
        "peak MB = rise of peak RSS over the RSS after imports, data creation "
        f"({wl.data_bytes / 2**20:.1f} MB float32 X) included"
        + ("; GPU MB = device memory at the peak" if gpu_seen else "")
    )
    for line in table_lines(rows, wl):
        out(line)
    if any(r.extrapolated for r in rows):
        out(
            f"  * timed on {wl.cpu_steps} of the epoch's {wl.steps_per_epoch} minibatches and "
            "extrapolated to the epoch (a CPU contender on a GPU workload)"
        )
    out()
    floor_lines, fractions = gemm_floor_lines(rows, wl, rates, shape)
    for line in floor_lines:
        out(line)

    targets = speed_targets(rows, wl, fractions, gpu_seen)
    mem = memory_target(rows, wl)
    if mem is not None:
        targets.append(mem)
    if not args.no_startup:
        targets.extend(startup_targets(measure_startup()))
    out()
    out("targets:" if targets else "targets: none for this workload")
    for t in targets:
        out(t.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
