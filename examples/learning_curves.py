"""Learning curves on handwritten digits: train, validation and test loss and error per epoch.

MNIST (70,000 28x28 images) when you have it, else the 8x8 digits shipped
with xpnet (1,797 images). The validation set is 10 % of the training set,
held out (stratified); the test set is MNIST's own, or 20 % of the digits.
Training runs every epoch asked for and keeps the parameters of the epoch
with the best validation accuracy (early stopping's choice), marked with a
star in the error panel.

Run (under a minute on a laptop CPU):

    python examples/learning_curves.py                       # embedded digits
    python examples/learning_curves.py --mnist ~/data/mnist  # the four IDX files (.gz or not)
    python examples/learning_curves.py --out curves.png --epochs 30 --backend cupy

Get MNIST's four files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from a mirror of
http://yann.lecun.com/exdb/mnist/ into one directory.
"""

from __future__ import annotations

import argparse
import time

import xpnet
from xpnet import datasets, plot


def load(mnist_dir: str | None, seed: int):
    """Train and test sets with pixels scaled to [0, 1], and a name for the title."""
    if mnist_dir:
        X_train, y_train, X_test, y_test = datasets.load_mnist_dir(mnist_dir)
        return X_train / 255.0, y_train, X_test / 255.0, y_test, "MNIST"
    X, y = datasets.load_digits()
    X_train, X_test, y_train, y_test = datasets.train_test_split(
        X / 16.0, y, 0.2, seed, stratify=True
    )
    return X_train, y_train, X_test, y_test, "8x8 digits"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", metavar="DIR", help="directory with MNIST's four IDX files")
    parser.add_argument("--out", default="learning_curves.png", help="PNG to write")
    parser.add_argument("--epochs", type=int, default=None, help="default: 100 digits, 20 MNIST")
    parser.add_argument("--hidden", type=int, nargs="+", default=[100])
    parser.add_argument("--lr", type=float, default=0.05, help="sgd learning rate (momentum 0.9)")
    parser.add_argument("--l2", type=float, default=1e-4)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    X_train, y_train, X_test, y_test, name = load(args.mnist, args.seed)
    epochs = args.epochs or (20 if args.mnist else 100)
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=tuple(args.hidden),
        learning_rate_init=args.lr,
        momentum=0.9,
        l2=args.l2,
        max_iter=epochs,
        early_stopping=True,  # holds out the validation set and keeps the best epoch
        validation_fraction=0.1,
        n_iter_no_change=epochs,  # ... but runs every epoch, to draw the whole curve
        backend=args.backend,
        random_state=args.seed,
    )
    started = time.perf_counter()
    clf.fit(X_train, y_train, eval_sets={"test": (X_test, y_test)})
    seconds = time.perf_counter() - started
    hidden = "-".join(str(h) for h in args.hidden)
    plot.learning_curves(
        clf.history_,
        args.out,
        title=f"{name}: MLP {X_train.shape[1]}-{hidden}-10 (relu, sgd lr {args.lr:g}, "
        f"L2 {args.l2:g}), {clf.backend_}",
    )
    test_error = 1.0 - clf.score(X_test, y_test)
    print(
        f"{name}: {epochs} epochs in {seconds:.1f}s on {clf.backend_}; best validation error "
        f"{1 - clf.best_validation_score_:.2%}, test error of the kept model {test_error:.2%}; "
        f"wrote {args.out}"
    )


if __name__ == "__main__":
    main()
