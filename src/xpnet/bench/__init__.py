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

from .contenders import contender_by_name, contender_names
from .run import main
from .workloads import WORKLOADS, Workload

__all__ = ["WORKLOADS", "Workload", "contender_by_name", "contender_names", "main"]
