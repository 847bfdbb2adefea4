"""The worker process that serves one contender, and the parent's handle on it.

Each contender lives in its own process (``python -m xpnet.bench --worker
NAME``), so thread pools of different libraries never compete and each
library is imported alone. The protocol is one line per message: the parent
writes a command (``run``, ``rate M K N``, ``quit``) on the worker's stdin,
the worker answers with ``WORKER_TAG`` and a JSON object on its stdout.
"""

from __future__ import annotations

import json
import math
import os
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import backend as _backend
from .contenders import Contender, Timing, contender_by_name
from .workloads import SEED, Workload, initial_params, make_data

#: Starts each line of the worker protocol (a JSON object follows).
WORKER_TAG = "XPNET_BENCH "
#: What ``--threads`` sets in each worker's environment.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_run(c: Contender, X, y, init, wl: Workload) -> Timing:
    """Train ``wl.epochs`` epochs (or ``c.steps`` minibatches, extrapolated to the epoch)."""
    if c.steps is None:
        return c.run(X, y, init, wl, wl.epochs)
    rows = min(wl.n, c.steps * wl.batch)
    t = c.run(X[:rows], y[:rows], init, wl, wl.epochs)
    scale = wl.steps_per_epoch / math.ceil(rows / wl.batch)
    return Timing([s * scale for s in t.epochs], None, t.loss)


def matmul_rate(library: str, M: int, K: int, N: int, tf32: bool, seconds: float = 0.25) -> float:
    """Measured float32 FLOP/s of ``A @ W.T``, A (M, K) and W (N, K), on a backend (best of 3)."""
    b = _backend.get_backend(library)
    b.set_tf32(tf32)
    rng = np.random.default_rng(SEED)
    A = b.asarray(rng.standard_normal((M, K), dtype=np.float32))
    W = b.asarray(rng.standard_normal((N, K), dtype=np.float32))

    def wait(result) -> None:
        b.sync()
        block = getattr(result, "block_until_ready", None)  # JAX dispatches asynchronously
        if block is not None:
            block()

    for _ in range(3):
        out = A @ W.T
    wait(out)
    best = 0.0
    for _ in range(3):
        calls = 0
        t0 = time.perf_counter()
        while True:
            out = A @ W.T
            calls += 1
            if calls % 4 == 0:
                wait(out)
                if time.perf_counter() - t0 >= seconds:
                    break
        elapsed = time.perf_counter() - t0
        best = max(best, 2.0 * M * K * N * calls / elapsed)
    return best


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
    except (_backend.BackendUnavailableError, ImportError, ValueError, TypeError) as e:
        reply({"error": str(e)})
        return 0
    base = _proc_status("VmRSS:") or _rss_peak()
    _reset_peak()
    X, y = make_data(wl)
    init = initial_params(wl)
    try:
        first = one_run(c, X, y, init, wl)
    except c.unsupported as e:  # this xpnet does not take the backend / compile= (yet)
        reply({"error": f"{type(e).__name__}: {e}"})
        return 0
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
                reply(asdict(one_run(c, X, y, init, wl)))
            elif command[0] == "rate":
                M, K, N = (int(v) for v in command[1:4])
                reply({"rate": matmul_rate(c.library, M, K, N, tf32)})
            else:
                reply({"error": f"unknown command {command[0]!r}"})
        except Exception as e:
            reply({"error": f"{type(e).__name__}: {e}"})
    return 0


def _package_root() -> str | None:
    """The folder this xpnet was imported from, unless the interpreter finds it by itself.

    A checkout's ``src`` (or a ``--target`` folder) reached through a relative
    ``PYTHONPATH`` or the current directory would be lost in a worker started
    elsewhere; the interpreter's own site-packages are never lost, and are
    not put ahead of the user's ``PYTHONPATH``.
    """
    root = Path(__file__).resolve().parents[2]
    site_dirs = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    try:
        site_dirs.update(site.getsitepackages())
        site_dirs.add(site.getusersitepackages())
    except AttributeError:  # a virtualenv's stripped-down site module
        pass
    if any(root == Path(d).resolve() for d in site_dirs if d):
        return None
    return str(root)


class Worker:
    """The parent's handle on one worker process."""

    def __init__(
        self,
        name: str,
        wl: Workload,
        tf32: bool,
        threads: int | None = None,
        epochs: int | None = None,
    ):
        self.name = name
        self._stderr = tempfile.TemporaryFile(mode="w+")
        cmd = [sys.executable, "-m", "xpnet.bench", "--worker", name, "--workload", wl.name]
        if tf32:
            cmd.append("--tf32")
        if epochs is not None:
            cmd += ["--epochs", str(epochs)]
        env = dict(os.environ)
        root = _package_root()
        if root is not None:  # the worker imports the same xpnet as this process
            env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
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
