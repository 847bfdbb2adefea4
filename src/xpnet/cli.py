"""The ``xpnet`` command: train, predict, check, info, bench.

``main(argv)`` parses the arguments, runs the command and returns the exit
code (``python -m xpnet`` and the ``xpnet`` console script call it):

* 0: success;
* 1: ``xpnet check`` found a disagreement;
* 2: bad input (a bad option, a missing or unreadable file, an unknown or
  unusable backend, data the estimator refuses), reported on one line as
  ``xpnet: error: <message>``, no traceback;
* 3: training diverged (the loss became NaN or inf);
* 74: an input/output error: a file could not be written (a full disk, a
  read-only file system), reported on one line naming the file; ``train``
  says how to resume;
* 75: the checkpoint is in use: another live ``xpnet train`` (or ``fit``)
  holds its lock file ``PATH.lock``;
* 130: interrupted (Ctrl-C); ``train`` keeps its last epoch-end checkpoint
  and prints, on one line, the command that resumes from it.

With no command at all, ``xpnet`` runs ``xpnet train`` with its defaults.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib
import math
import os
import platform
import re
import shlex
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._version import __version__

__all__ = ["main", "build_parser"]

EXIT_OK = 0
EXIT_DISAGREE = 1
EXIT_USAGE = 2
EXIT_DIVERGED = 3
EXIT_IOERR = 74  # sysexits.h EX_IOERR
EXIT_LOCKED = 75  # sysexits.h EX_TEMPFAIL: try again once the other run has ended
EXIT_INTERRUPTED = 130

#: Backends ``xpnet check`` tries by default (those ``available_backends`` reports on).
CHECK_BACKENDS = ("numpy", "array_api_strict", "torch:cpu", "torch:cuda", "cupy")

_PLOT_HINT = (
    'matplotlib is not installed: pip install matplotlib (from a clone: pip install -e ".[plot]") '
    "gives curves.png and regions.png"
)

# estimator parameter -> the option that sets it, so an estimator's message names the option
_OPTION_OF = {
    "hidden_layer_sizes": "--hidden",
    "activation": "--activation",
    "solver": "--solver",
    "learning_rate_init": "--lr",
    "alpha": "--alpha",
    "momentum": "--momentum",
    "batch_size": "--batch-size",
    "max_iter": "--epochs",
    "l1": "--l1",
    "l2": "--l2",
    "dtype": "--dtype",
    "compile": "--compile",
    "distributed": "--distributed",
    "random_state": "--seed",
    "backend": "--backend",
    "tol": "--tol",
    "n_iter_no_change": "--patience",
    "validation_fraction": "--validation-fraction",
    "early_stopping": "--early-stopping",
    "checkpoint": "--checkpoint",
    "checkpoint_every": "--checkpoint-every",
    "resume": "--resume",
}


class CommandError(Exception):
    """A failure to report as ``xpnet: error: <message>`` with an exit code, no traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def _for_option(option: str, error: BaseException) -> CommandError:
    """``error`` as a CommandError whose message starts with the option it is about."""
    text = str(error) or type(error).__name__
    if isinstance(error, FileNotFoundError) and error.filename:
        text = f"no such file or directory: {error.filename}"
    head, sep, rest = text.partition(": ")
    if sep and head in (option.lstrip("-"), "spec"):  # "backend: unknown ..." -> "unknown ..."
        text = rest
    return CommandError(f"{option}: {text}")


def _estimator_error(error: BaseException) -> CommandError:
    """An estimator's ValueError/TypeError worded for the command.

    Its ``param:`` prefix becomes the option, and the estimator's spellings in the
    rest of the message (``hidden_layer_sizes``, ``resume=True``, ...) become the
    command's options.
    """
    text = str(error)
    head, sep, rest = text.partition(":")
    if sep and head in _OPTION_OF:
        text = f"{_OPTION_OF[head]} ({head}):{_as_options(rest)}"
    else:  # validation's form: "MLPClassifier: the 'momentum' parameter must be ..."
        named = re.search(r"the '(\w+)' parameter", text)
        if named and named.group(1) in _OPTION_OF:
            text = f"{_OPTION_OF[named.group(1)]} ({named.group(1)}):{rest}"
        else:
            text = _as_options(text)
    return CommandError(text)


#: The estimator's keyword spellings in a message and what the command calls them.
_SPOKEN = (
    ("pass resume=False", "train without --resume"),
    ("resume=False", "no --resume"),
    ("resume=True", "--resume"),
    ("checkpoint=PATH", "--checkpoint PATH"),
)


def _as_options(text: str) -> str:
    for keyword, option in _SPOKEN:
        text = text.replace(keyword, option)
    for name, option in _OPTION_OF.items():
        if "_" in name:  # plain words (alpha, backend, ...) stay words
            text = re.sub(rf"'?\b{name}\b'?", option, text)
    return text


# ---------------------------------------------------------------------- parser


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the description's line breaks; append each option's default unless it has none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            default is None
            or default is False
            or default == argparse.SUPPRESS
            or "default" in text
            or not action.option_strings
        ):
            return text
        if isinstance(default, list):
            default = " ".join(str(v) for v in default)
        shown = str(default).replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"default: {shown}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got {value}")
    return value


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


def _test_size(text: str) -> float:
    value = _float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1), got {text!r}")
    return value


TRAIN_HELP = """\
Train an MLP classifier (or, with --task regression, a regressor) and write the
run to --out:

  model.npz     the model, with its input scaling, feature names and label
                column: the file alone is enough (load with
                xpnet.MLPClassifier.load or xpnet.MLPRegressor.load, or
                `xpnet predict`)
  history.csv   one row per epoch: loss and error of train / validation / test,
                learning rate, seconds
  curves.png    learning curves (needs matplotlib)
  regions.png   decision regions, for data with 2 features (needs matplotlib)
  checkpoint.npz  the state at an epoch end, at most every --checkpoint-every
                seconds and after the last epoch (or --checkpoint PATH)

Every file written is listed; files an earlier run left in --out and this run
did not write again are removed (and said so).

Data: 'digits' (8x8 digits, embedded), 'moons' (two moons, 200 points),
'mnist:DIR' (the four MNIST IDX files in DIR, with their own test set), or a
FILE.npz (arrays X and y) or FILE.csv (a header row; the --label column holds
the labels, every other column is a feature; with --task regression it holds
the numeric targets), or a FILE.npy of features with --labels FILE.npy. Data
without a test set of their own are split (--test-size, stratified for a
classifier, --seed), except with --mmap.

Data larger than memory: --data X.npy --labels y.npy --mmap memory-maps X and
streams it from the file a minibatch at a time; it is not split, so a test
set comes from --test-data T.npy --test-labels t.npy (the model then equals
the one the same command trains in memory without --mmap).

The defaults are the estimator's, which are scikit-learn's: adam, learning
rate 0.001, batch "auto" (min(200, n)), alpha 1e-4, 200 epochs.

Scaling: digits are divided by 16 and MNIST by 255 (pixels in [0, 1]); other
data are standardised with the training set's mean and standard deviation.
The model applies the scaling itself (the estimator's standardize) and keeps
it in model.npz, so `xpnet predict` takes raw data.

Ctrl-C stops training: the checkpoint of the last finished epoch is kept,
and `xpnet train ... --resume PATH` continues from it (the same data and
settings; other data are refused). One run at a time writes a checkpoint
(PATH.lock). Exit status: 0 done, 2 bad input, 3 diverged, 74 a file could
not be written (the message says how to resume), 75 the checkpoint is in use
by another run, 130 interrupted.
"""

PREDICT_HELP = """\
Predict the labels of the rows of FILE with a model written by `xpnet train`.

FILE.npz holds an array X (and optionally y); FILE.csv has a header row and
numeric feature columns. The label column (the one the model file names, or
--label COL) is dropped by name when present, and its labels give the
accuracy (R^2 for a regressor), printed to stderr. The other columns are
matched to the model's features by name, in any order; missing, extra or
repeated columns are refused, naming them. A model without feature names
takes the columns in order.

The model file carries its input scaling. A model file of format version 1
(older xpnet) does not: its scaling is read from scaling.npz beside it (or
--scaling FILE), with a warning when there is none; --no-scaling feeds the
features as they are.

Output: one prediction per line on stdout, or to --output FILE (.csv with a
header, .npy, or .txt); with --proba, the class probabilities instead, after
a header line of the class names (p_CLASS,...) on stdout and in a .csv.
"""

CHECK_HELP = """\
Verify the math on every backend here, for every activation:

  gradcheck  analytic gradients of a small float64 MLP objective (with L1 and
             L2 penalties, and dR/dX) against central finite differences
  agree      forward pass, objective, gradients and dR/dX against NumPy
             float64 from the same parameters and data: normwise relative
             error below 1e-10 (float64) or 1e-4 (float32)

Prints a table and exits with 1 if anything disagrees. Backends that cannot
run here are listed as skipped, with the reason.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command (``bench`` forwards its arguments untouched)."""
    parser = argparse.ArgumentParser(
        prog="xpnet",
        description="Neural networks from scratch on NumPy, CuPy, PyTorch or any array-API "
        "library. With no command, runs `xpnet train` with its defaults.",
        epilog="exit status: 0 success, 1 `check` found a disagreement, 2 bad input "
        "(options, files, backend), 3 training diverged, 74 a file could not be written, "
        "75 the checkpoint is locked by another run, 130 interrupted (Ctrl-C)",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from .functional import ACTIVATION_NAMES

    train = sub.add_parser(
        "train",
        help="train a classifier and write model, history and plots",
        description=TRAIN_HELP,
        formatter_class=_Formatter,
    )
    data = train.add_argument_group("data")
    data.add_argument(
        "--data",
        default="digits",
        metavar="SPEC",
        help="digits | moons | mnist:DIR | FILE.npz | FILE.csv | FILE.npy (with --labels)",
    )
    data.add_argument("--label", default="label", metavar="COL", help="label column of a CSV")
    data.add_argument(
        "--labels",
        metavar="FILE.npy",
        help="the labels (or regression targets) of a --data FILE.npy, one per row",
    )
    data.add_argument(
        "--mmap",
        action="store_true",
        help="memory-map --data FILE.npy and stream it from the file (data larger than "
        "memory; not split: a test set comes from --test-data)",
    )
    data.add_argument(
        "--test-data",
        metavar="FILE.npy",
        help="a test set for --data FILE.npy (memory-mapped with --mmap), with --test-labels",
    )
    data.add_argument("--test-labels", metavar="FILE.npy", help="the labels of --test-data")
    data.add_argument(
        "--task",
        choices=("classification", "regression"),
        default="classification",
        help="classification (MLPClassifier) or regression (MLPRegressor: numeric targets)",
    )
    data.add_argument(
        "--test-size",
        type=_test_size,
        default=0.2,
        metavar="F",
        help="fraction held out as the test set (data without a test set of their own)",
    )
    model = train.add_argument_group("model and training")
    model.add_argument(
        "--hidden",
        type=_positive_int,
        nargs="+",
        default=[100],
        metavar="N",
        help="hidden layer sizes, e.g. --hidden 100 50",
    )
    model.add_argument(
        "--activation", choices=ACTIVATION_NAMES, default="relu", help="hidden activation"
    )
    model.add_argument("--solver", choices=("adam", "sgd"), default="adam", help="optimizer")
    model.add_argument("--lr", type=_float, default=0.001, help="initial learning rate")
    model.add_argument("--momentum", type=_float, default=0.9, help="sgd momentum")
    model.add_argument(
        "--batch-size",
        type=_batch_size,
        default="auto",
        metavar="N",
        help="minibatch size, or auto = min(200, n)",
    )
    model.add_argument(
        "--alpha",
        type=_float,
        default=0.0001,
        help="L2 penalty on the weights, scikit-learn's alpha (alpha / (2 * batch) per minibatch)",
    )
    model.add_argument(
        "--epochs", type=_positive_int, default=200, metavar="N", help="maximum number of epochs"
    )
    model.add_argument(
        "--l1",
        type=_float,
        nargs="+",
        default=[0.0],
        metavar="S",
        help="L1 strength: one value, or one per weight matrix",
    )
    model.add_argument(
        "--l2",
        type=_float,
        nargs="+",
        default=[0.0],
        metavar="S",
        help="xpnet's L2 strength, added to alpha's: one value, or one per weight matrix "
        "(added once to each minibatch's objective)",
    )
    model.add_argument(
        "--early-stopping",
        action="store_true",
        help="hold out --validation-fraction of the training data as a validation set; stop "
        "when its score stops improving and keep the best parameters",
    )
    model.add_argument(
        "--validation-fraction",
        type=_float,
        default=0.1,
        metavar="F",
        help="share of the training data held out by --early-stopping, in (0, 1)",
    )
    model.add_argument(
        "--tol",
        type=_float,
        default=1e-4,
        help="smallest improvement that counts (training loss, or the validation score "
        "with --early-stopping)",
    )
    model.add_argument(
        "--patience",
        type=_positive_int,
        default=10,
        metavar="N",
        help="stop after N epochs in a row without an improvement larger than --tol",
    )
    model.add_argument("--seed", type=int, default=0, help="seed of weights, shuffling, splits")
    where = train.add_argument_group("backend and output")
    where.add_argument(
        "--backend",
        default="auto",
        metavar="SPEC",
        help="auto | numpy | cupy[:N] | torch[:cpu|:cuda[:N]] | jax[:cpu|:gpu|:cuda:N] | "
        "array_api_strict",
    )
    where.add_argument(
        "--dtype",
        choices=("float32", "float64"),
        default="float32",
        help="floating point type (float64 on JAX needs JAX_ENABLE_X64=1)",
    )
    where.add_argument(
        "--distributed",
        choices=("mpi",),
        default=None,
        help="data-parallel training over the ranks of mpiexec or srun (the mpi extra); "
        "--batch-size is the global minibatch; only rank 0 prints and writes files",
    )
    where.add_argument(
        "--compile",
        choices=("auto", "none", "jit"),
        default="auto",
        help="auto: JAX compiles the step (jax.jit) and each epoch's loop, other backends run "
        "eagerly; none: eager everywhere; jit: jax.jit on JAX, torch.compile on PyTorch",
    )
    where.add_argument("--out", default="xpnet-run", metavar="DIR", help="output directory")
    where.add_argument(
        "--checkpoint",
        default=None,
        metavar="PATH",
        help="write a checkpoint here at epoch ends (default: OUT/checkpoint.npz)",
    )
    where.add_argument(
        "--resume",
        default=None,
        metavar="PATH",
        help="continue from this checkpoint up to --epochs in all (implies --checkpoint PATH)",
    )
    where.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="write no checkpoint (a Ctrl-C then keeps nothing to resume from)",
    )
    where.add_argument(
        "--checkpoint-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="write the checkpoint at an epoch end only when SECONDS have passed since the "
        "last write (always after the last epoch and on Ctrl-C); 0: at every epoch end",
    )
    where.add_argument("--quiet", action="store_true", help="print only errors and warnings")

    predict = sub.add_parser(
        "predict",
        help="predict labels of a data file with a saved model",
        description=PREDICT_HELP,
        formatter_class=_Formatter,
    )
    predict.add_argument("--model", required=True, metavar="FILE", help="a model.npz")
    predict.add_argument(
        "--data",
        required=True,
        metavar="FILE",
        help="FILE.npz, FILE.csv or FILE.npy (features only, memory-mapped)",
    )
    predict.add_argument("--label", default="label", metavar="COL", help="label column of a CSV")
    predict.add_argument("--output", default=None, metavar="FILE", help=".csv, .npy or .txt")
    predict.add_argument("--proba", action="store_true", help="output class probabilities")
    predict.add_argument("--backend", default="auto", metavar="SPEC", help="where to compute")
    predict.add_argument(
        "--scaling",
        default=None,
        metavar="FILE",
        help="the scaling.npz of a format-1 model (default: scaling.npz beside the model)",
    )
    predict.add_argument(
        "--no-scaling", action="store_true", help="use the features as they are, unscaled"
    )

    export = sub.add_parser(
        "export",
        help="write a saved model as an ONNX graph",
        formatter_class=_Formatter,
        description="Trace the model's forward pass (its input scaling and softmax included) "
        "into an ONNX graph with one input X (float32, n x d); a classifier's outputs are "
        "probabilities and label (the class index; the classes are in the metadata), a "
        'regressor\'s prediction. Needs the export extra: pip install -e ".[export]".',
    )
    export.add_argument("--model", required=True, metavar="FILE", help="a model.npz")
    export.add_argument("--onnx", required=True, metavar="FILE", help="the .onnx file to write")
    export.add_argument("--opset", type=int, default=None, help="target ONNX opset")

    check = sub.add_parser(
        "check",
        help="gradient check and cross-backend agreement table",
        description=CHECK_HELP,
        formatter_class=_Formatter,
    )
    check.add_argument(
        "--backends",
        nargs="+",
        default=list(CHECK_BACKENDS),
        metavar="SPEC",
        help="backends to check",
    )

    sub.add_parser(
        "info",
        help="versions, BLAS, backends and devices",
        formatter_class=_Formatter,
        description="Print xpnet's, Python's and NumPy's versions, NumPy's BLAS, and each "
        "backend: available or why not, and its devices.",
    )
    sub.add_parser(
        "bench",
        help="time training against peers (xpnet bench --help)",
        add_help=False,
        description="Arguments are passed to xpnet.bench.",
    )
    return parser


# ---------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``xpnet`` command line; returns the exit code (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return _run_guarded(lambda: _bench(argv[1:]))
    if not argv:
        print("xpnet: no command given: running `xpnet train` (`xpnet --help` lists the commands)")
        argv = ["train"]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version, or a usage error argparse reported
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    if args.command is None:
        parser.print_usage(sys.stderr)
        _error("expected a command: train, predict, export, check, info or bench")
        return EXIT_USAGE
    args.argv = argv[argv.index(args.command) + 1 :]  # the command's own arguments
    command = {
        "train": _train,
        "predict": _predict,
        "export": _export,
        "check": _check,
        "info": _info,
    }[args.command]
    with _warnings_as_lines():
        return _run_guarded(lambda: command(args))


@contextlib.contextmanager
def _warnings_as_lines() -> Any:
    """Warnings print as one ``xpnet: warning: ...`` line each (no source line) while a command runs."""

    def one_line(message: Any, category: Any, filename: Any, lineno: Any, line: Any = None) -> str:
        return f"xpnet: warning: {message}\n"

    saved = warnings.formatwarning
    warnings.formatwarning = one_line
    try:
        yield
    finally:
        warnings.formatwarning = saved


def _export(args: argparse.Namespace) -> int:
    """``xpnet export --model FILE --onnx FILE``."""
    from . import export

    try:
        path = export.to_onnx(args.model, args.onnx, opset=args.opset)
    except (ValueError, OSError) as e:
        raise CommandError(f"--model: {e}") from e
    print(f"wrote {path}")
    return EXIT_OK


def _run_guarded(run: Any) -> int:
    """Call ``run()``; documented failures become one-line messages and exit codes.

    Under MPI with several ranks, a rank that fails this way ends the whole job
    with its exit code (``MPI_Abort``) instead of leaving the others waiting.
    """
    code = _run_reported(run)
    if code not in (EXIT_OK, EXIT_DISAGREE):
        _end_mpi_job(code)
    return code


def _end_mpi_job(code: int) -> None:
    """Abort an MPI job of several ranks (a no-op without one): the others may be waiting."""
    if "mpi4py.MPI" not in sys.modules:  # never start MPI just to find it is not there
        return
    from . import distributed

    comm = distributed.get_communicator("mpi")
    if comm.size > 1:
        comm.abort(code)


def _run_reported(run: Any) -> int:
    from .backend import BackendUnavailableError
    from .train import DivergenceError

    try:
        return int(run())
    except CommandError as e:
        _error(str(e))
        return e.code
    except DivergenceError as e:
        _error(str(e))
        return EXIT_DIVERGED
    except BackendUnavailableError as e:
        _error(f"--backend: {e}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("xpnet: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `xpnet predict ... | head`: the reader has gone
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the exit-time flush stays quiet
        return EXIT_OK
    except OSError as e:  # a write that failed (model.npz, history.csv, ...): no traceback
        from .io import WriteError

        if isinstance(e, WriteError) or not e.filename:
            _error(str(e))
        else:
            _error(f"{e.filename}: {e.strerror or e}")
        return EXIT_IOERR


def _error(message: str) -> None:
    print(f"xpnet: error: {message}", file=sys.stderr)


def _say(args: argparse.Namespace, *parts: Any) -> None:
    if not getattr(args, "quiet", False):
        print(*parts, flush=True)


# ---------------------------------------------------------------------- train


def _resolve(spec: str) -> Any:
    from .backend import BackendUnavailableError, get_backend

    try:
        return get_backend(spec)
    except (ValueError, TypeError, BackendUnavailableError) as e:
        env = os.environ.get("XPNET_BACKEND", "").strip()
        if str(spec).strip().lower() == "auto" and env and env.lower() != "auto":
            # the spec came from the environment, not from --backend: name it so
            said = str(_for_option("--backend", e)).removeprefix("--backend: ")
            raise CommandError(
                f"XPNET_BACKEND={env}: {said} (set XPNET_BACKEND to one of these, or unset it)"
            ) from e
        raise _for_option("--backend", e) from e


def _load_training_data(args: argparse.Namespace) -> dict:
    """Train/test arrays as read, and the input scaling the model learns or is given.

    The arrays stay raw: the model itself scales its input (``standardize``), so
    the model file alone predicts on raw features. Digits are divided by 16 and
    MNIST by 255 (given statistics); other data are standardised with the
    training set's mean and standard deviation (learned by ``fit``). A CSV's
    header gives the feature names and the label column's name.
    """
    from . import datasets
    from .preprocessing import Standardizer

    spec = str(args.data)
    if spec.startswith("mnist:"):  # the shell leaves "mnist:~/dir" alone: expand it here
        spec = "mnist:" + os.path.expanduser(spec[len("mnist:") :])
    elif spec not in ("digits", "moons"):
        spec = os.path.expanduser(spec)
    npy = spec.lower().endswith(".npy")
    for option, given in (("--labels", args.labels), ("--test-data", args.test_data)):
        if given is not None and not npy:
            raise CommandError(f"{option}: only with --data FILE.npy (got --data {args.data})")
    if args.mmap and not npy:
        raise CommandError(
            f"--mmap: only a --data FILE.npy can be memory-mapped (got --data {args.data}); "
            "save X with numpy.save and its labels beside it"
        )
    names = None
    if npy:
        data = _load_npy_data(args, spec)
    else:
        try:
            data = datasets.load(
                spec, label=args.label, task=getattr(args, "task", "classification")
            )
            names = _csv_header(spec) if spec.lower().endswith(".csv") else None
        except (OSError, ValueError, TypeError) as e:
            raise _for_option("--data", e) from e
    X, y = data["X"], data["y"]
    if "X_test" in data:
        X_train, y_train, X_test, y_test = X, y, data["X_test"], data["y_test"]
    else:
        try:
            X_train, X_test, y_train, y_test = datasets.train_test_split(
                X,
                y,
                args.test_size,
                args.seed,
                stratify=args.task == "classification",
            )
        except ValueError as e:
            raise _for_option("--test-size", e) from e
    standardize: Any = True
    how = "standardised with the training set's mean and std"
    for prefix, pixels in (("digits", 16.0), ("mnist:", 255.0)):
        if spec == prefix or (prefix.endswith(":") and spec.startswith(prefix)):
            standardize = Standardizer.from_stats(0.0, pixels, X_train.shape[1])
            how = f"pixels / {pixels:g}"
    if names is not None:
        names = [c for c in names if c != args.label]
    return {
        "X": X_train,
        "y": y_train,
        "X_test": X_test,
        "y_test": y_test,
        "scaling": how,
        "standardize": standardize,
        "feature_names": names,
        "label_column": args.label if names is not None else None,
    }


def _load_npy_data(args: argparse.Namespace, spec: str) -> dict:
    """``--data X.npy --labels y.npy`` (memory-mapped with ``--mmap``), and a test set.

    Every file goes through the safe reader; with ``--mmap`` the features stay in
    their file (only their header is read here) and are not split: the test set,
    if any, is ``--test-data`` / ``--test-labels``.
    """
    from . import io

    read = io.map_npy if args.mmap else io.read_npy
    if args.labels is None:
        raise CommandError(
            "--labels: --data FILE.npy holds the features only; give the labels (or the "
            "regression targets), one per row, in --labels FILE.npy"
        )
    if (args.test_data is None) != (args.test_labels is None):
        given, missing = (
            ("--test-data", "--test-labels")
            if args.test_labels is None
            else ("--test-labels", "--test-data")
        )
        raise CommandError(f"{missing}: {given} needs it (the test features and their labels)")
    command_line = getattr(args, "argv", [])
    if args.mmap and any(a == "--test-size" or a.startswith("--test-size=") for a in command_line):
        raise CommandError(
            "--test-size: a memory-mapped --data is not split (its rows stay in the file); "
            "give a test set with --test-data and --test-labels"
        )

    def load(option: str, path: str, features: bool) -> Any:
        try:
            values = (read if features else io.read_npy)(os.path.expanduser(path))
        except (OSError, ValueError) as e:
            raise _for_option(option, e) from e
        if features and values.ndim != 2:
            want = "(n_samples, n_features)"
        elif not features and values.ndim not in (1, 2):
            want = "(n_samples,) or (n_samples, n_targets)"
        else:
            return values
        raise CommandError(f"{option}: {path} has shape {values.shape}; expected {want}")

    X, y = load("--data", spec, True), load("--labels", args.labels, False)
    if X.shape[0] != y.shape[0]:
        raise CommandError(f"--labels: {y.shape[0]} labels for the {X.shape[0]} rows of --data")
    data = {"X": X, "y": y}
    if args.test_data is not None:
        X_test = load("--test-data", args.test_data, True)
        y_test = load("--test-labels", args.test_labels, False)
        if X_test.shape[0] != y_test.shape[0]:
            raise CommandError(
                f"--test-labels: {y_test.shape[0]} labels for the {X_test.shape[0]} rows "
                "of --test-data"
            )
        if X_test.shape[1] != X.shape[1]:
            raise CommandError(
                f"--test-data: {X_test.shape[1]} features, but --data has {X.shape[1]}"
            )
        data.update(X_test=X_test, y_test=y_test)
    elif args.mmap:
        data.update(X_test=None, y_test=None)
    return data


def _csv_header(path: str) -> list[str]:
    """The stripped cells of a CSV file's first non-blank row (its header)."""
    import io as _text

    from . import io

    with io.open_regular(path) as raw:
        try:
            for row in csv.reader(_text.TextIOWrapper(raw, encoding="utf-8", newline="")):
                if row:
                    return [cell.strip() for cell in row]
        except (UnicodeDecodeError, csv.Error) as error:
            raise ValueError(f"{path}: not a readable UTF-8 CSV file ({error})") from error
    raise ValueError(f"{path}: empty file; expected a header row and data rows")


SCALING_FORMAT = "xpnet-scaling"


def _read_scaling(path: Path, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """Read and check the ``scaling.npz`` of a format-1 model (untrusted, like a model file).

    ``xpnet train`` wrote it beside model files of format version 1; newer model
    files carry their input standardisation themselves.
    """
    from . import io

    _, arrays = io.read_archive(path, SCALING_FORMAT)
    offset, scale = arrays.get("offset"), arrays.get("scale")
    for name, arr in (("offset", offset), ("scale", scale)):
        if arr is None or arr.dtype.kind != "f" or arr.shape != (n_features,):
            raise ValueError(f"{path}: {name!r} must be {n_features} floats, one per feature")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{path}: {name!r} holds NaN or inf")
    assert offset is not None and scale is not None  # checked in the loop
    if not np.all(scale > 0):
        raise ValueError(f"{path}: 'scale' must be positive")
    return offset, scale


def _estimator(args: argparse.Namespace) -> Any:
    from .estimators import MLPClassifier, MLPRegressor, check_params

    cls = MLPRegressor if args.task == "regression" else MLPClassifier
    clf = cls(
        hidden_layer_sizes=tuple(args.hidden),
        activation=args.activation,
        solver=args.solver,
        learning_rate_init=args.lr,
        alpha=args.alpha,
        momentum=args.momentum,
        batch_size=args.batch_size,
        max_iter=args.epochs,
        l1=args.l1[0] if len(args.l1) == 1 else tuple(args.l1),
        l2=args.l2[0] if len(args.l2) == 1 else tuple(args.l2),
        early_stopping=args.early_stopping,
        validation_fraction=args.validation_fraction,
        tol=args.tol,
        n_iter_no_change=args.patience,
        backend=args.backend,
        dtype=args.dtype,
        compile=args.compile,
        distributed=args.distributed,
        random_state=args.seed,
    )
    try:
        check_params(clf)
    except (ValueError, TypeError) as e:
        raise _estimator_error(e) from e
    return clf


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


class _Progress:
    """Per-batch progress (tqdm when installed, else one line per epoch); reads no device."""

    def __init__(self, args: argparse.Namespace, start_epoch: int):
        self.quiet = args.quiet
        self.max_epochs = args.epochs
        self.start_epoch = start_epoch
        self.epoch = start_epoch
        self.bar: Any = None
        self.tqdm = None
        self.first_line: str | None = None  # printed before the first progress
        # a terminal gets tqdm's redrawn bar; a redirected stderr (a log file, a pipe)
        # would collect every carriage-return redraw, so it gets one plain line per epoch instead
        if not self.quiet and _is_terminal(sys.stderr):
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            self.tqdm = tqdm

    def _say_first_line(self) -> None:
        if self.first_line is not None:
            if not self.quiet:
                print(self.first_line, flush=True)
            self.first_line = None

    def on_batch(self, batch: int, n_batches: int) -> None:
        self._say_first_line()
        if self.tqdm is None:
            return
        if self.bar is None:
            remaining = max(self.max_epochs - self.start_epoch, 1)
            self.bar = self.tqdm(
                total=remaining * n_batches,
                unit="batch",
                desc=f"epoch {self.epoch + 1}/{self.max_epochs}",
                dynamic_ncols=True,
                leave=True,
            )
        self.bar.update(1)

    def on_epoch(self, epoch: int, row: dict) -> None:
        self._say_first_line()
        self.epoch = epoch
        if self.quiet:
            return
        if self.bar is not None:
            postfix = {"loss": f"{row['train_loss']:.4f}"}
            for key, value in row.items():
                if key.endswith("_error"):
                    postfix[f"{key[: -len('_error')]}_acc".replace("train_", "")] = (
                        f"{1 - value:.4f}"
                    )
                elif key.endswith("_r2"):
                    postfix[key.replace("train_", "")] = f"{value:.4f}"
            self.bar.set_description(f"epoch {min(epoch + 1, self.max_epochs)}/{self.max_epochs}")
            self.bar.set_postfix(postfix, refresh=True)
        elif self.tqdm is None:
            parts = [
                f"epoch {epoch:{len(str(self.max_epochs))}d}/{self.max_epochs}",
                f"loss {row['train_loss']:.4f}",
            ]
            for key, value in row.items():
                for suffix, shown in (("_error", "err"), ("_r2", "R^2")):
                    if key.endswith(suffix):
                        name = "validation" if key.startswith("val_") else key[: -len(suffix)]
                        text = f"{100 * value:.2f}%" if suffix == "_error" else f"{value:.4f}"
                        parts.append(f"{name} {shown} {text}")
            parts.append(f"{row['seconds']:.2f}s")
            print("  ".join(parts), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _checkpoint_epoch(path: Path) -> int:
    """The number of epochs a checkpoint holds (0 if it cannot be read)."""
    from . import io as _io

    try:
        meta, _ = _io.read_archive(path, _io.CHECKPOINT_FORMAT)
    except (OSError, ValueError):
        return 0
    epoch = meta.get("epoch")
    return epoch if isinstance(epoch, int) else 0


def _resume_command(args: argparse.Namespace, checkpoint: Path) -> str:
    """The ``xpnet train`` command line that resumes this run from ``checkpoint``."""
    kept, skip = [], False
    for token in args.argv:
        if skip:
            skip = False
            continue
        if token in ("--resume", "--checkpoint"):
            skip = True
            continue
        if token.startswith(("--resume=", "--checkpoint=")):
            continue
        kept.append(token)
    return shlex.join(["xpnet", "train", *kept, "--resume", str(checkpoint)])


def _interrupted_notice(args: argparse.Namespace, checkpoint: Path | None, clf: Any) -> str:
    """The one line ``xpnet train`` prints on Ctrl-C: what is kept and how to go on."""
    if checkpoint is None:
        return "xpnet: interrupted; --no-checkpoint: nothing saved"
    held = getattr(clf, "_checkpoint_epoch", None)  # the epoch the file holds, once written
    if held is None:
        return "xpnet: interrupted before the first epoch ended; nothing saved"
    return (
        f"xpnet: interrupted after epoch {held}; the checkpoint at {checkpoint} resumes it: "
        f"{_resume_command(args, checkpoint)}"
    )


def _write_failure(args: argparse.Namespace, checkpoint: Path | None, error: OSError) -> Any:
    """A failed checkpoint write or a held lock as a CommandError; other errors unchanged."""
    from . import io as _io

    if isinstance(error, _io.CheckpointLockedError):
        return CommandError(f"--checkpoint: {error.strerror}", EXIT_LOCKED)
    if not isinstance(error, _io.CheckpointWriteError) or checkpoint is None:
        return error
    remedy = _io.write_remedy(error.errno)
    if error.epoch is None:
        how = f"nothing was saved; {remedy} and start again with: {_rerun_command(args)}"
    else:
        how = f"{remedy} and resume with: {_resume_command(args, checkpoint)}"
    return CommandError(
        f"cannot write checkpoint {error.filename}: {error.strerror}; {how}", EXIT_IOERR
    )


def _rerun_command(args: argparse.Namespace) -> str:
    """The ``xpnet train`` command line of this run, as given."""
    return shlex.join(["xpnet", "train", *args.argv])


def _train(args: argparse.Namespace) -> int:
    from . import distributed
    from .train import DivergenceError

    try:
        distributed.refuse_unrequested_launch(args.distributed)
        root = distributed.get_communicator(args.distributed).is_root
    except ValueError as e:
        raise CommandError(str(e)) from e
    if not root:  # one rank speaks and writes: the others train in silence
        args.quiet = True
    if not str(args.out).strip():
        raise CommandError("--out: the path is empty; give a directory such as xpnet-run")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"--out: {out} exists and is not a directory; give a directory")
    if args.checkpoint is not None and not str(args.checkpoint).strip():
        raise CommandError("--checkpoint: the path is empty; give a file such as run.ckpt.npz")
    clf = _estimator(args)
    backend = _resolve(args.backend)
    note = backend.note
    if note.startswith("auto:") and not backend.is_gpu:
        note = "auto: no usable GPU backend; `xpnet info` says why"
    _say(
        args, f"xpnet {__version__}: backend {backend.describe()}" + (f"  [{note}]" if note else "")
    )
    if args.no_checkpoint and (args.resume is not None or args.checkpoint is not None):
        given = "--resume" if args.resume is not None else "--checkpoint"
        raise CommandError(f"--no-checkpoint: cannot be combined with {given}; drop one of them")
    if args.resume is not None:
        resume = Path(args.resume)
        if not resume.is_file():
            raise CommandError(f"--resume: no checkpoint file {resume}")
        start_epoch = _checkpoint_epoch(resume)
        checkpoint: Path | None = resume
    else:
        checkpoint = Path(args.checkpoint) if args.checkpoint else out / "checkpoint.npz"
        start_epoch = 0
    if args.no_checkpoint:
        checkpoint = None
    if checkpoint is not None:
        option = "--resume" if args.resume is not None else "--checkpoint"
        outputs = {(out / name).resolve() for name in _RUN_FILES if name != "checkpoint.npz"}
        if checkpoint.resolve() in outputs:
            raise CommandError(
                f"{option}: {checkpoint} is one of the files the run writes into --out; "
                "give the checkpoint a name of its own (the default is OUT/checkpoint.npz)"
            )
        if args.resume is None and checkpoint.is_file() and root:
            held = _checkpoint_epoch(checkpoint)
            _say(
                args,
                f"xpnet: note: {checkpoint} holds epoch {held} of an earlier run; this run starts "
                f"over and replaces it (`--resume {checkpoint}` would continue that run instead)",
            )
    data = _load_training_data(args)
    clf.set_params(standardize=data["standardize"])  # the model scales its own input
    X, y, X_test, y_test = data["X"], data["y"], data["X_test"], data["y_test"]
    what = (
        f"{np.unique(y).shape[0]} classes"
        if args.task == "classification"
        else "numeric targets (regression)"
    )
    _say(
        args,
        f"data: {args.data}: {X.shape[0]} training and "
        f"{'no' if X_test is None else X_test.shape[0]} test samples"
        f"{' (memory-mapped: streamed from the file)' if args.mmap else ''}, "
        f"{X.shape[1]} features, {what}; {data['scaling']}",
    )
    try:
        if root:
            out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _for_option("--out", e) from e
    try:
        if root and checkpoint is not None:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        option = "--resume" if args.resume is not None else "--checkpoint"
        raise CommandError(
            f"{option}: cannot create the directory {e.filename}: {e.strerror or e}; "
            "give a path in a directory that exists or can be created"
        ) from e
    progress = _Progress(args, start_epoch)
    if start_epoch:  # said once fit has accepted the checkpoint (its data and settings)
        progress.first_line = f"resuming from {checkpoint} after epoch {start_epoch}"
    clf._interrupt_notice = False  # the command says it below, in its own terms
    started = time.perf_counter()
    try:
        clf.fit(
            X,
            y,
            eval_sets=None if X_test is None else {"test": (X_test, y_test)},
            checkpoint=checkpoint,
            resume=args.resume is not None,
            on_batch=progress.on_batch,
            on_epoch=progress.on_epoch,
            checkpoint_every=args.checkpoint_every,
        )
    except KeyboardInterrupt:
        progress.close()
        print(_interrupted_notice(args, checkpoint, clf), file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except OSError as e:
        progress.close()
        raise _write_failure(args, checkpoint, e) from e
    except DivergenceError as e:
        progress.close()
        raise CommandError(f"{e} (here: a smaller --lr)", EXIT_DIVERGED) from e
    except (ValueError, TypeError) as e:
        progress.close()
        raise _estimator_error(e) from e
    progress.close()
    seconds = time.perf_counter() - started

    stopped = clf.stop_reason_
    _say(
        args,
        f"done: {clf.n_iter_} epochs in {seconds:.2f}s on {clf.backend_}"
        + (f"; stopped early: {stopped}" if stopped else ""),
    )
    no_validation = "- (no validation set; --early-stopping holds one out)"
    if args.task == "regression":
        best = clf.best_validation_score_
        validation = f"{best:.4f} (best epoch, kept)" if best is not None else no_validation
        _say(
            args,
            f"R^2: train {clf.score(X, y):.4f}  validation {validation}  "
            f"test {'-' if X_test is None else format(clf.score(X_test, y_test), '.4f')}",
        )
    else:
        train_error = 1.0 - clf.score(X, y)
        test_error = None if X_test is None else 1.0 - clf.score(X_test, y_test)
        if clf.best_validation_score_ is not None:
            validation = f"{100 * (1 - clf.best_validation_score_):.2f}% (best epoch, kept)"
        else:
            validation = no_validation
        _say(
            args,
            f"error: train {100 * train_error:.2f}%  validation {validation}  "
            f"test {'-' if test_error is None else format(100 * test_error, '.2f') + '%'}",
        )
    if not root:
        return EXIT_OK
    written = _write_run(args, clf, out, data)
    _say(args, f"wrote {', '.join(str(p) for p in written)}")
    return EXIT_OK


#: What ``xpnet train`` writes into --out (``scaling.npz``: by earlier versions).
_RUN_FILES = ("model.npz", "history.csv", "curves.png", "regions.png", "checkpoint.npz")
_OLD_RUN_FILES = ("scaling.npz",)


@contextlib.contextmanager
def _writing(path: Path) -> Any:
    """A failed write of ``path`` names it, and leaves no partial file behind."""
    try:
        yield
    except OSError as error:
        with contextlib.suppress(OSError):
            path.unlink()
        raise OSError(error.errno, error.strerror or str(error), str(path)) from error


def _write_run(args: argparse.Namespace, clf: Any, out: Path, data: dict) -> list[Path]:
    """model.npz, history.csv and, with matplotlib, curves.png and regions.png.

    The model file carries the input scaling, the feature names (a CSV's header)
    and the label column's name. Returns every file of this run in --out (the
    checkpoint included); files an earlier run left there that this one did not
    write (pictures, scaling.npz, a checkpoint) are removed, and said so.
    """
    earlier = (out / "model.npz").exists()
    written: list[Path] = []
    history_path = out / "history.csv"
    keys = list(clf.history_)
    with _writing(history_path), open(history_path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(keys)
        for row in zip(*(clf.history_[k] for k in keys), strict=True):
            writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    written.append(history_path)
    try:
        from . import plot

        hidden = "-".join(str(h) for h in args.hidden)
        title = (
            f"xpnet on {args.data}: hidden {hidden} {args.activation}, {args.solver}, "
            f"{clf.backend_} {args.dtype}"
        )
        curves = out / "curves.png"
        with _writing(curves):
            plot.learning_curves(clf, curves, title=title)  # early stopping: the kept epoch
        written.append(curves)
        if data["X"].shape[1] == 2 and args.task == "classification":
            regions = out / "regions.png"
            with _writing(regions):
                plot.decision_regions(
                    clf,
                    data["X"],
                    data["y"],
                    regions,
                    X_test=data["X_test"],
                    y_test=data["y_test"],
                    title=f"{args.data}: decision regions after {clf.n_iter_} epochs",
                )
            written.append(regions)
    except ImportError:
        print(f"xpnet: {_PLOT_HINT}", file=sys.stderr)
    names = data.get("feature_names")
    if names is not None and len(set(names)) == len(names):  # named columns: matched by name
        clf.feature_names_in_ = np.asarray(names, dtype=object)
    written.insert(0, clf.save(out / "model.npz", label_column=data.get("label_column")))
    checkpoint = None
    if not args.no_checkpoint:
        checkpoint = Path(args.resume or args.checkpoint or out / "checkpoint.npz")
        if checkpoint.is_file():
            written.append(checkpoint)
    kept = {p.resolve() for p in written}
    stale = [
        out / name
        for name in (*_RUN_FILES, *_OLD_RUN_FILES)
        if (out / name).is_file() and (out / name).resolve() not in kept
    ]
    for path in stale:
        path.unlink()
    if earlier or stale:
        _say(
            args,
            f"xpnet: {out} held an earlier run: its files are replaced"
            + (f"; removed {', '.join(p.name for p in stale)}" if stale else ""),
        )
    return written


# ---------------------------------------------------------------------- predict


def _read_features(
    path: str, label: str, task: str = "classification"
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """Features (n, d) of a .npz (array X), .csv or .npy file, labels if present, column names.

    Both go through the safe reader: ``io.read_npz`` (only X and y read, each
    header checked first) and ``io.open_regular`` for a CSV file. The names are
    a CSV's feature columns (its header without the ``label`` column); None for .npz.
    A ``.npy`` file holds the features only and is memory-mapped (``io.map_npy``).
    """
    from . import datasets, io

    lower = path.lower()
    if lower.endswith(".npz"):
        arrays = io.read_npz(path, expect=("X",), optional=("y",), kind="an .npz archive with X")
        X, y = arrays["X"], arrays.get("y")
        if X.ndim != 2 or X.dtype.kind not in "biuf":
            raise ValueError(f"{path}: X must be a 2-D numeric array, got {X.dtype} {X.shape}")
        return X.astype(np.float64), y, None
    if lower.endswith(".csv"):
        rows, lines = datasets._csv_rows(path)
        if not rows:
            raise ValueError(f"{path}: empty file; expected a header row and data rows")
        header = [cell.strip() for cell in rows[0]]
        if header and all(_is_number(cell) for cell in header):
            warnings.warn(
                f"{path}: its first row ({', '.join(header[:4])}"
                f"{', ...' if len(header) > 4 else ''}) is all numbers, but a CSV's first row "
                "is its header: that row is not predicted. Add a header row (column names)",
                UserWarning,
                stacklevel=2,
            )
        if label in header:
            X, y = datasets.load_csv(path, label=label, task=task)
            return X, y, [c for c in header if c != label]
        if len(rows) < 2:
            raise ValueError(f"{path}: no data rows after the header")
        datasets._check_row_lengths(path, rows[1:], lines[1:], len(header))
        return datasets._parse_features(rows[1:], header, path, lines[1:]), None, header
    if lower.endswith(".npy"):  # features only, memory-mapped: predicted in blocks
        X = io.map_npy(path)
        if X.ndim != 2 or X.dtype.kind not in "biuf":
            raise ValueError(f"{path}: X must be a 2-D numeric array, got {X.dtype} {X.shape}")
        return X, None, None
    raise ValueError(f"{path}: expected a file ending in .npz, .csv or .npy")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _match_columns(
    path: str, X: np.ndarray, names: list[str] | None, clf: Any, label: str
) -> np.ndarray:
    """X's columns in the model's order: by name where both have names, else by position.

    Refuses (naming them) missing or extra columns, and a column count that
    differs from the model's.
    """
    fitted = getattr(clf, "feature_names_in_", None)
    d = int(clf.n_features_in_)
    if names is not None and fitted is not None:
        fitted = [str(c) for c in fitted]
        missing = [c for c in fitted if c not in names]
        extra = [c for c in names if c not in fitted]
        doubled = sorted({c for c in names if names.count(c) > 1})
        if missing or extra or doubled:
            parts = [f"missing {missing}"] if missing else []
            parts += [f"extra {extra}"] if extra else []
            parts += [f"repeated {doubled}"] if doubled else []
            raise ValueError(
                f"{path}: the columns do not match the model's features: {'; '.join(parts)}. "
                f"The model needs the columns {fitted} (in any order), and the label column "
                f"{label!r} if the file has labels; pass --label COL if it is named otherwise"
            )
        return X[:, [names.index(c) for c in fitted]]
    if X.shape[1] != d:
        hint = ""
        if names is not None:
            hint = (
                f" (columns {names}); if one of them is the label column, name it with "
                f"--label COL (now {label!r})"
            )
        raise ValueError(
            f"{path} has {X.shape[1]} features, but the model is expecting {d} features{hint}"
        )
    return X


def _predict(args: argparse.Namespace) -> int:
    import warnings

    from . import io
    from .estimators import MLPClassifier, MLPRegressor

    if args.output is not None and Path(args.output).suffix.lower() not in (".csv", ".npy", ".txt"):
        raise CommandError(
            f"--output: expected a file ending in .csv, .npy or .txt, got {args.output}"
        )

    try:
        meta, _ = io.read_archive(args.model, io.MODEL_FORMAT)
        cls = MLPRegressor if meta.get("estimator") == "MLPRegressor" else MLPClassifier
        clf: Any = cls.load(args.model, backend=args.backend)
    except (OSError, ValueError) as e:
        raise _for_option("--model", e) from e
    if cls is MLPRegressor and args.proba:
        raise CommandError("--proba: the model is a regressor; it predicts numbers, not classes")
    # the label column: --label when given, else the one the model file names
    stored_label = meta.get("label_column")
    label = args.label if args.label != "label" or not stored_label else stored_label
    try:
        task = "regression" if cls is MLPRegressor else "classification"
        X, y, names = _read_features(args.data, label, task)
        X = _match_columns(args.data, X, names, clf, label)
    except (OSError, ValueError, TypeError) as e:
        raise _for_option("--data", e) from e
    X = _legacy_scaling(args, meta, clf, X)
    try:
        with warnings.catch_warnings():  # the columns were matched by name above
            warnings.filterwarnings("ignore", message="X does not have valid feature names")
            labels = np.asarray(clf.predict(X))
            proba = np.asarray(clf.predict_proba(X)) if args.proba else None
            r2 = clf.score(X, y) if y is not None and cls is MLPRegressor else None
    except (ValueError, TypeError) as e:
        raise _for_option("--data", e) from e
    if r2 is not None and y is not None:
        print(f"xpnet: R^2 {r2:.4f} on {y.shape[0]} rows", file=sys.stderr)
    elif y is not None:
        print(
            f"xpnet: accuracy {np.mean(labels == y):.4f} on {y.shape[0]} labelled rows",
            file=sys.stderr,
        )
    values: np.ndarray = labels if proba is None else proba
    header = [f"p_{c}" for c in clf.classes_.tolist()] if proba is not None else []
    if args.output is None:
        _write_lines(sys.stdout, values, header)
        return EXIT_OK
    out = Path(args.output)
    suffix = out.suffix.lower()
    try:
        if suffix == ".npy":
            np.save(out, values)
        elif suffix == ".csv":
            with open(out, "w", newline="", encoding="utf-8") as f:
                writer = csv.writer(f)
                if args.proba:
                    writer.writerow(header)
                    writer.writerows([str(v) for v in row] for row in values)  # dtype's text
                else:
                    writer.writerow(["prediction"])
                    writer.writerows([v] for v in values.tolist())
        elif suffix == ".txt":
            with open(out, "w", encoding="utf-8") as f:
                _write_lines(f, values)
        else:
            raise CommandError(f"--output: expected a file ending in .csv, .npy or .txt, got {out}")
    except OSError as e:
        raise _for_option("--output", e) from e
    return EXIT_OK


def _legacy_scaling(args: argparse.Namespace, meta: dict, clf: Any, X: np.ndarray) -> np.ndarray:
    """A format-1 model's input scaling, from scaling.npz beside it (or --scaling FILE).

    Newer model files scale their input themselves: --scaling is refused for
    them, and so is --no-scaling when the model standardises its input.
    """
    if meta.get("format_version", 1) >= 2:
        if args.scaling:
            raise CommandError(
                f"--scaling: {args.model} carries its own input scaling (model format "
                f"version {meta['format_version']}); --scaling is for models of format "
                "version 1. Drop --scaling"
            )
        if args.no_scaling and getattr(clf, "standardizer_", None) is not None:
            raise CommandError(
                f"--no-scaling: {args.model} standardises its input itself (it is part of "
                "the model). Drop --no-scaling"
            )
        return X
    if args.no_scaling:
        return X
    scaling = Path(args.scaling) if args.scaling else Path(args.model).parent / "scaling.npz"
    if not args.scaling and not scaling.exists():
        print(
            f"xpnet: warning: {args.model} is a model file of format version 1 with no "
            f"scaling.npz beside it: the features are used as they are. Pass --scaling "
            "FILE (the scaling.npz `xpnet train` wrote), or --no-scaling to say so",
            file=sys.stderr,
        )
        return X
    try:
        offset, scale = _read_scaling(scaling, clf.n_features_in_)
    except (OSError, ValueError) as e:
        raise _for_option("--scaling", e) from e
    return (X - offset) / scale


def _write_lines(stream: Any, values: np.ndarray, header: Sequence[str] | None = None) -> None:
    """One line per row: a label, or comma-separated values after a ``header`` line (if any)."""
    if header:
        stream.write(",".join(header) + "\n")
    if values.ndim == 2:
        # the shortest text that reads back as the same value in the array's own dtype
        # (float32 probabilities print as 0.5910711, not 0.5910711288452148)
        for row in values:  # numpy scalars of the array's dtype: str gives their shortest text
            stream.write(",".join(str(v) for v in row) + "\n")
    else:
        for v in values.tolist():
            stream.write(f"{v}\n")
    stream.flush()


# ---------------------------------------------------------------------- check

_CHECK_SIZES = (4, 5, 3, 3)  # d, two hidden layers, m
_CHECK_ROWS = 6
_AGREE_RTOL = {"float64": 1e-10, "float32": 1e-4}
_GRADCHECK_RTOL = 1e-6


def _check_problem(activation: str) -> dict:
    """Host float64 parameters, inputs, labels and per-layer penalties for one activation."""
    from .backend import host_rng
    from .mlp import init_params

    rng = host_rng(12345)
    params = init_params(_CHECK_SIZES, activation, dtype="float64", seed=rng)
    # nonzero biases, so that their gradients are tested as well
    params = [(W, rng.normal(scale=0.5, size=b.shape)) for W, b in params]
    X = rng.normal(size=(_CHECK_ROWS, _CHECK_SIZES[0]))
    y = rng.integers(0, _CHECK_SIZES[-1], size=_CHECK_ROWS)
    return {"params": params, "X": X, "y": y, "l1": (0.01, 0.02, 0.03), "l2": (0.05, 0.0, 0.1)}


def _rel_err(actual: Any, reference: np.ndarray) -> float:
    from .backend import to_numpy

    a = np.asarray(to_numpy(actual), dtype=np.float64)
    if a.shape != reference.shape:
        return math.inf
    scale = float(np.linalg.norm(reference.ravel()))
    diff = float(np.linalg.norm((a - reference).ravel()))
    return diff / scale if scale > 0 else diff


def _evaluate(backend: Any, problem: dict, activation: str, dtype: str) -> list[Any]:
    """Logits, objective value, every gradient and dR/dX on ``backend``, flattened."""
    from .mlp import forward, objective

    params = [(backend.asarray(W, dtype), backend.asarray(b, dtype)) for W, b in problem["params"]]
    X = backend.asarray(problem["X"], dtype)
    y = backend.asarray(problem["y"])
    logits, _ = forward(params, X, activation)
    value, grads, dX = objective(params, X, y, activation, problem["l1"], problem["l2"])
    return [logits, value, *[g for pair in grads for g in pair], dX]


def _gradcheck_on(backend: Any, problem: dict, activation: str) -> tuple[float, bool]:
    from .gradcheck import gradcheck
    from .mlp import objective

    params = [
        (backend.asarray(W, "float64"), backend.asarray(b, "float64")) for W, b in problem["params"]
    ]
    X = backend.asarray(problem["X"], "float64")
    y = backend.asarray(problem["y"])

    def value_and_grad(nest: Any) -> tuple[Any, Any]:
        p, x = nest
        value, grads, dX = objective(p, x, y, activation, problem["l1"], problem["l2"])
        return value, (grads, dX)

    report = gradcheck(value_and_grad, (params, X), rtol=_GRADCHECK_RTOL)
    return report.max_error, report.ok


def _check(args: argparse.Namespace) -> int:
    from .backend import BackendUnavailableError, get_backend
    from .functional import ACTIVATIONS

    backends: list[tuple[str, Any, str | None]] = []
    for spec in args.backends:
        try:
            backends.append((spec, get_backend(spec), None))
        except BackendUnavailableError as e:
            backends.append((spec, None, str(e)))
        except (ValueError, TypeError) as e:
            raise _for_option("--backends", e) from e
    reference = get_backend("numpy")
    activations = list(ACTIVATIONS)
    problems = {act: _check_problem(act) for act in activations}
    expected = {
        act: [
            np.asarray(v, dtype=np.float64)
            for v in _evaluate(reference, problems[act], act, "float64")
        ]
        for act in activations
    }

    header = ("backend", "device", "dtype", "check", "max rel. error", "threshold", "agree")
    rows: list[tuple[str, ...]] = []
    skipped: list[tuple[str, str]] = []
    all_ok = True
    for spec, b, why in backends:
        if b is None:
            skipped.append((spec, why or "unavailable"))
            continue
        device = _device_label(b)
        for act in activations:
            error, ok = _gradcheck_on(b, problems[act], act)
            rows.append(
                (
                    b.name,
                    device,
                    "float64",
                    f"gradcheck {act}",
                    f"{error:.2e}",
                    f"{_GRADCHECK_RTOL:g}",
                    "yes" if ok else "NO",
                )
            )
            all_ok &= ok
        for dtype in ("float64", "float32"):
            for act in activations:
                got = _evaluate(b, problems[act], act, dtype)
                error = max(_rel_err(g, e) for g, e in zip(got, expected[act], strict=True))
                ok = math.isfinite(error) and error < _AGREE_RTOL[dtype]
                rows.append(
                    (
                        b.name,
                        device,
                        dtype,
                        f"agree {act}",
                        f"{error:.2e}",
                        f"{_AGREE_RTOL[dtype]:g}",
                        "yes" if ok else "NO",
                    )
                )
                all_ok &= ok
    _print_table(header, rows)
    for spec, why in skipped:
        print(f"skipped {spec}: {why}")
    n_bad = sum(row[-1] != "yes" for row in rows)
    if not rows:
        print("xpnet check: no backend could run")
        return EXIT_DISAGREE
    if all_ok:
        print(f"xpnet check: all {len(rows)} checks agree")
        return EXIT_OK
    print(f"xpnet check: {n_bad} of {len(rows)} checks DISAGREE")
    return EXIT_DISAGREE


def _device_label(backend: Any) -> str:
    """The device in a few words: "cpu", "cuda:0 (NVIDIA H100 ...)", "CPU_DEVICE"."""
    text = str(backend.device)
    quoted = re.search(r"\('([^']*)'\)", text)  # array_api_strict.Device('CPU_DEVICE')
    if quoted:
        text = quoted.group(1)
    described = backend.describe()
    if described.endswith(")") and " (" in described:
        text += " " + described[described.rindex(" (") + 1 :]
    return text


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{h:<{w}}" for h, w in zip(header, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(f"{str(c):<{w}}" for c, w in zip(row, widths, strict=True)))


# ---------------------------------------------------------------------- info


def _blas_summary() -> str:
    """NumPy's BLAS in a few words: library, version, threads (threadpoolctl if installed)."""
    parts = []
    try:
        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        if blas:
            parts.append(f"{blas.get('name', '?')} {blas.get('version', '')}".strip())
    except Exception:  # older NumPy, or an unusual build: the summary is optional
        pass
    try:
        import threadpoolctl

        for pool in threadpoolctl.threadpool_info():
            if pool.get("user_api") == "blas":
                parts.append(
                    f"running {pool.get('internal_api')} with {pool.get('num_threads')} threads"
                )
                break
    except ImportError:
        pass
    return "; ".join(parts) if parts else "unknown"


def _package_version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _info(args: argparse.Namespace) -> int:
    from .backend import BackendUnavailableError, available_backends, get_backend

    print(f"xpnet       {__version__} ({Path(__file__).parent})")
    print(f"Python      {platform.python_version()} ({sys.executable})")
    print(f"NumPy       {np.__version__}; BLAS: {_blas_summary()}")
    print(f"platform    {platform.platform()}, {os.cpu_count()} CPUs")
    extras = ", ".join(
        f"{name} {_package_version(name)}"
        for name in ("array-api-compat", "array-api-extra", "matplotlib", "tqdm", "scikit-learn")
    )
    print(f"packages    {extras}")
    print()
    print("backends:")
    found = available_backends()
    width = max(len(name) for name in found)
    for name, status in found.items():
        if status is True:
            b = get_backend(name)
            version = getattr(sys.modules.get(b.library), "__version__", "")
            print(
                f"  {name:<{width}}  available: {b.describe()}{_gpu_memory(b)} "
                f"({b.library} {version})"
            )
        else:
            print(f"  {name:<{width}}  unavailable: {status}")
    for line in _extra_devices(found):
        print(f"  {line}")
    try:
        auto = get_backend("auto")
        print(f"\nauto -> {auto.name}" + (f"  [{auto.note}]" if auto.note else ""))
    except (ValueError, BackendUnavailableError) as e:
        print(f"\nauto -> error: {e}")
    print(f"MPI         {_mpi_summary()}")
    return EXIT_OK


def _mpi_summary() -> str:
    """The MPI library, this job's ranks and how the allreduce stages buffers, or why none."""
    from . import distributed
    from .backend import BackendUnavailableError

    try:
        comm = distributed.get_communicator("mpi")
    except (ValueError, BackendUnavailableError) as e:
        return f"unavailable: {e}"
    return comm.describe()


def _gpu_memory(backend: Any) -> str:
    """ ", 139.8 GiB, 139.1 GiB free" for a CUDA device (total where describe() lacks it)."""
    if not backend.is_gpu:
        return ""
    parts = []
    if backend.library == "torch":
        try:
            import torch

            total = torch.cuda.get_device_properties(backend.device).total_memory
            parts.append(f"{total / 2**30:.1f} GiB")
        except Exception:  # a failed query only shortens the line
            pass
    free = backend.free_memory()
    if free is not None:
        parts.append(f"{free / 2**30:.1f} GiB free")
    return "".join(f", {part}" for part in parts)


def _extra_devices(found: dict) -> list[str]:
    """Describe CUDA devices beyond the first, where a backend sees several."""
    from .backend import BackendUnavailableError, get_backend

    lines = []
    counters = []
    if found.get("cupy") is True:
        import cupy

        counters.append(("cupy:{}", cupy.cuda.runtime.getDeviceCount()))
    if found.get("torch:cuda") is True:
        import torch

        counters.append(("torch:cuda:{}", torch.cuda.device_count()))
    for pattern, count in counters:
        for i in range(1, count):
            try:
                b = get_backend(pattern.format(i))
                lines.append(f"{pattern.format(i)}  available: {b.describe()}{_gpu_memory(b)}")
            except BackendUnavailableError as e:
                lines.append(f"{pattern.format(i)}  unavailable: {e}")
    return lines


# ---------------------------------------------------------------------- bench


def _bench(argv: list[str]) -> int:
    try:
        bench = importlib.import_module(f"{__package__}.bench")
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.bench":
            raise CommandError(
                "bench: this installation of xpnet has no xpnet.bench module yet", EXIT_USAGE
            ) from e
        raise CommandError(f"bench: {e}") from e
    return bench.main(argv)
