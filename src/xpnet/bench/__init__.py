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
* ``xpnet-jax-jit``, ``xpnet-jax-eager``, ``xpnet-torch-compiled``: the
  estimator with ``backend="jax:cpu"`` (``"jax"`` where JAX has a GPU) or
  ``"torch"`` and ``compile="jit"`` / ``"none"``; skipped, with the reason,
  where the library is not installed or the installed xpnet does not take
  that backend or ``compile=`` value;
* ``numpy-hand``: the same math as a hand-written NumPy loop, the floor of an
  eager NumPy implementation (in-place updates, no dX for the input layer);
* ``sklearn``: ``sklearn.neural_network.MLPClassifier`` (solver="sgd",
  momentum=0, alpha=0, float32 input);
* ``torch-eager:<device>``: ``nn.Linear`` / ``nn.ReLU`` / ``CrossEntropyLoss`` /
  ``optim.SGD`` on the CPU, and on CUDA when a GPU is there;
  ``torch-compiled:<device>`` the same through ``torch.compile``, when asked
  for (``--peers torch-compiled``).

Each contender lives in its own worker process (``--worker NAME``), so thread
pools of different libraries (OpenBLAS, OpenMP, MKL) never compete and each
library is imported alone. A worker imports what its contender needs, notes
its resident set size (RSS), makes the data and trains once: that first run
is the warm-up, and the rise of the peak RSS over the RSS after imports (data
creation included) is the ``peak MB`` column. Then ``--repeats`` rounds: each
round asks every worker, one at a time, for one timed run, starting with a
different contender each round.

Every contender times each epoch alone, the same way: the training passes
only (data already where they train, weights initialised), from the epoch's
first minibatch until its loss is read back on the host, which waits for the
device. The first epoch of a run holds compilation and first-call set-up, so
it is reported apart: ``s/epoch`` is the steady state, the median of each
run's epochs after the first, then the median over the runs, with their
``spread`` and ``fastest``; ``compile s`` is the warm-up run's first epoch
minus ``s/epoch``, ``recompile s`` the same for the timed runs (what each new
fit pays again). ``fit s`` is the whole call from host NumPy arrays (input
checks, initialisation, moving the data to the device).

The performance targets are not part of the package: they are read from a
TOML file (``--targets PATH``, else ``benchmarks/targets.toml`` of the current
directory or of the repository checkout; see :mod:`xpnet.bench.targets`) and
each is printed met or missed. Nothing here asserts on time.

Modules: ``workloads`` (the problems), ``contenders`` (what is timed),
``worker`` (the process that runs one contender), ``report`` (the table, the
GEMM floor), ``targets`` (the goals), ``environment`` (machine, versions,
start-up time), ``run`` (the command).

Example:
    $ python -m xpnet.bench --workload digits
    $ python -m xpnet.bench --workload mnist --repeats 5
    $ python -m xpnet.bench --workload large --tf32       # on a CUDA machine
"""

from __future__ import annotations

from .contenders import contender_by_name, contender_names
from .run import main
from .workloads import WORKLOADS, Workload

__all__ = ["WORKLOADS", "Workload", "contender_by_name", "contender_names", "main"]
