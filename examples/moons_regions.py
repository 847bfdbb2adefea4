"""Decision regions of an MLP on two moons: what hidden size, L1, L2 and epochs do.

One figure, a grid of panels: each row varies one setting (hidden units, L2
strength, L1 strength, number of epochs) and keeps the others at a middle
value. Each panel shows the regions the network assigns to each class (paler
where it is less sure), the training points (circles) and the test points
(triangles), with both accuracies.

Run (about 10 s on a laptop CPU):

    python examples/moons_regions.py                  # writes moons_regions.png
    python examples/moons_regions.py out.png --epochs 50 --backend torch

Recall that xpnet's penalty is added once per minibatch objective (seed
2.18): ``l2`` here is scikit-learn's ``alpha / (2 * batch_size)``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import xpnet
from xpnet import datasets, plot


def experiments(epochs: int) -> list[tuple[str, list[tuple[str, dict]]]]:
    """Rows of (row label, [(panel title, MLPClassifier arguments), ...])."""
    base = {"hidden_layer_sizes": (30,), "l1": 0.0, "l2": 0.0, "max_iter": epochs}
    return [
        (
            "hidden units",
            [(f"{h} hidden", {**base, "hidden_layer_sizes": (h,)}) for h in (1, 3, 10, 100)],
        ),
        ("L2 penalty", [(f"L2 = {s:g}", {**base, "l2": s}) for s in (0.0, 1e-3, 3e-3, 1e-2)]),
        ("L1 penalty", [(f"L1 = {s:g}", {**base, "l1": s}) for s in (0.0, 1e-3, 3e-3, 1e-2)]),
        (
            "epochs",
            [
                (f"{e} epoch{'s' if e > 1 else ''}", {**base, "max_iter": e})
                for e in sorted({1, max(epochs // 30, 2), max(epochs // 6, 3), epochs})
            ],
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", nargs="?", default="moons_regions.png", help="PNG to write")
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the other rows")
    parser.add_argument("--samples", type=int, default=300, help="points in the data set")
    parser.add_argument("--noise", type=float, default=0.25)
    parser.add_argument("--resolution", type=int, default=200, help="grid points per axis")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from matplotlib.figure import Figure  # no pyplot: no window, no global backend

    X, y = datasets.make_moons(args.samples, args.noise, seed=args.seed)
    X_train, X_test, y_train, y_test = datasets.train_test_split(
        X, y, 0.3, args.seed, stratify=True
    )
    rows = experiments(args.epochs)
    n_cols = max(len(panels) for _, panels in rows)
    fig = Figure(figsize=(4.0 * n_cols, 3.6 * len(rows)), layout="constrained")
    axes = np.atleast_2d(fig.subplots(len(rows), n_cols, squeeze=False))
    started = time.perf_counter()
    for r, (label, panels) in enumerate(rows):
        for c, (title, params) in enumerate(panels):
            clf = xpnet.MLPClassifier(
                solver="adam",
                learning_rate_init=0.01,
                batch_size=32,
                n_iter_no_change=args.epochs,  # run every epoch asked for
                backend=args.backend,
                random_state=args.seed,
                **params,
            ).fit(X_train, y_train)
            ax = axes[r, c]
            plot.decision_regions(
                clf,
                X_train,
                y_train,
                X_test=X_test,
                y_test=y_test,
                title=title,
                ax=ax,
                resolution=args.resolution,
            )
            if c > 0 or r > 0:
                ax.get_legend().remove()  # one legend is enough
            ax.set_xlabel("")
            ax.set_ylabel(label if c == 0 else "", fontsize="large")
        for c in range(len(panels), n_cols):
            axes[r, c].set_visible(False)
    fig.suptitle(
        f"Two moons ({args.samples} points, noise {args.noise}): MLP decision regions "
        f"(relu, adam, {args.epochs} epochs unless varied, hidden 30 unless varied)",
        fontsize="x-large",
    )
    fig.savefig(args.output, dpi=80)
    print(
        f"wrote {args.output}: {sum(len(p) for _, p in rows)} networks trained in "
        f"{time.perf_counter() - started:.1f}s on {clf.backend_}"
    )


if __name__ == "__main__":
    main()
