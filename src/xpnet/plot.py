"""Plots for training runs: learning curves and decision regions.

matplotlib is optional (``pip install matplotlib``, or ``pip install -e ".[plot]"``
from a clone) and imported only when a function here is called. Figures are made with ``matplotlib.figure.Figure``
and its Agg canvas, never through ``pyplot``: nothing here changes the global
matplotlib backend or opens a window, so the functions work on a headless
server, in a script and in a notebook (which displays a returned Figure).

Example:
    >>> from xpnet import plot
    >>> fig = plot.learning_curves(clf.history_, "curves.png")       # doctest: +SKIP
    >>> fig = plot.decision_regions(clf, X, y, "regions.png")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .backend import to_numpy

__all__ = ["learning_curves", "decision_regions", "CLASS_COLORS", "SET_COLORS"]

#: Class colours (Okabe & Ito's colour-blind safe palette, then tab10's), class i gets entry i.
CLASS_COLORS = (
    "#0072B2",  # blue
    "#D55E00",  # vermillion
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#E69F00",  # orange
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
    "#8c564b",  # brown
    "#7f7f7f",  # grey
)

#: Line colours of the data sets in learning curves; other eval sets take the next free colour.
SET_COLORS = {"train": "#0072B2", "val": "#E69F00", "test": "#009E73"}
_SET_LABELS = {"train": "train", "val": "validation"}
_EXTRA_COLORS = ("#CC79A7", "#D55E00", "#56B4E9", "#000000")


def _figure(figsize: tuple[float, float]) -> Any:
    """A new Figure on the Agg canvas (no pyplot, no global state)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            'xpnet.plot needs matplotlib: pip install matplotlib (from a clone: pip install -e ".[plot]")'
        ) from e
    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | os.PathLike | None) -> None:
    if path is not None:
        fig.savefig(os.fspath(path), dpi=fig.dpi)


def _set_names(history: Mapping[str, Sequence[float]]) -> list[str]:
    """The data sets in a history, in the order train, val, then eval sets as stored."""
    names = [key[: -len("_loss")] for key in history if key.endswith("_loss")]
    order = {"train": 0, "val": 1}
    return sorted(names, key=lambda name: order.get(name, 2))


def _kept_epoch(model: Any, history: Mapping[str, Sequence[float]]) -> int | None:
    """The epoch whose parameters an early-stopped estimator kept (its best validation score)."""
    if not getattr(model, "early_stopping", False):
        return None
    if history.get("val_error"):
        best = int(np.argmin(np.asarray(history["val_error"], dtype=float)))  # first best
    elif history.get("val_r2"):
        best = int(np.argmax(np.asarray(history["val_r2"], dtype=float)))
    else:
        return None
    epochs = history.get("epoch") or range(1, len(history["val_loss"]) + 1)
    return int(list(epochs)[best])


def learning_curves(
    history: Mapping[str, Sequence[float]] | Any,
    path: str | os.PathLike | None = None,
    title: str | None = None,
    kept_epoch: int | None = None,
) -> Any:
    """Loss and error per epoch for train, validation and each eval set: two panels.

    Args:
        history: ``MLPClassifier.history_`` (a dict of equal-length lists with
            ``epoch``, ``<set>_loss``, ``<set>_error``), or a fitted estimator.
        path: write the figure here (PNG, or any format matplotlib knows from
            the extension); None writes nothing.
        title: the figure's title.
        kept_epoch: the epoch whose parameters the model kept; the legends give
            that epoch's values, and a dotted line marks it. Given a fitted
            estimator with ``early_stopping=True``, it is the epoch of the best
            validation score (the one early stopping keeps); otherwise the last.

    Returns:
        The ``matplotlib.figure.Figure``.

    The training curve is what the epoch measured while it trained: the mean
    minibatch objective of eq. (2.18) (penalty included) and the running minibatch error.
    Validation and eval-set curves are the cross-entropy (no penalty) and the
    error of the parameters at the end of each epoch.
    """
    if not isinstance(history, Mapping):
        model, history = history, getattr(history, "history_", None)
        if not isinstance(history, Mapping):
            raise TypeError("history: expected a dict such as clf.history_, or a fitted estimator")
        if kept_epoch is None:
            kept_epoch = _kept_epoch(model, history)
    names = _set_names(history)
    if not names or not history.get(f"{names[0]}_loss"):
        raise ValueError("history: no epochs recorded (expected keys like 'train_loss')")
    n_epochs = len(history[f"{names[0]}_loss"])
    epochs = np.asarray(history.get("epoch") or range(1, n_epochs + 1), dtype=float)
    at = n_epochs - 1  # the row the legends report
    if kept_epoch is not None:
        matches = np.flatnonzero(epochs == kept_epoch)
        if not matches.size:
            raise ValueError(
                f"kept_epoch: epoch {kept_epoch} is not in the history "
                f"(epochs {epochs[0]:.0f} to {epochs[-1]:.0f})"
            )
        at = int(matches[0])

    fig = _figure((11.0, 4.4))
    ax_loss, ax_err = fig.subplots(1, 2)
    extra = iter(_EXTRA_COLORS)
    for name in names:
        color = SET_COLORS.get(name) or next(extra, None)
        label = _SET_LABELS.get(name, name)
        loss = np.asarray(history[f"{name}_loss"], dtype=float)
        err = np.asarray(history.get(f"{name}_error", []), dtype=float)
        style = {"color": color, "linewidth": 1.8, "marker": "o" if n_epochs <= 30 else None}
        style["markersize"] = 3.5
        loss_label = f"{label} (objective during the epoch)" if name == "train" else label
        ax_loss.plot(epochs, loss, label=f"{loss_label}: {loss[at]:.3g}", **style)
        if err.size:
            err_label = f"{label} (during the epoch)" if name == "train" else label
            ax_err.plot(epochs, 100.0 * err, label=f"{err_label}: {100 * err[at]:.2f}%", **style)
            if name == "val" and n_epochs > 1:  # what early stopping selects on
                best = int(np.argmin(err))
                ax_err.plot(
                    epochs[best],
                    100.0 * err[best],
                    marker="*",
                    markersize=11,
                    color=color,
                    markeredgecolor="black",
                    markeredgewidth=0.6,
                    linestyle="none",
                    label=f"best {label}: {100 * err[best]:.2f}% (epoch {epochs[best]:.0f})",
                )
    positive = all(np.all(np.asarray(history[f"{n}_loss"], dtype=float) > 0) for n in names)
    if positive:
        from matplotlib.ticker import FuncFormatter

        ax_loss.set_yscale("log")
        all_losses = np.concatenate([np.asarray(history[f"{n}_loss"], float) for n in names])
        decades = np.log10(all_losses.max() / all_losses.min())
        # plain numbers, not 10^k; label in-between ticks only as far as they fit
        shown = range(1, 10) if decades < 1 else (2, 5) if decades < 2.5 else ()

        def minor_label(value: float, _: Any) -> str:
            mantissa = round(value / 10 ** np.floor(np.log10(value)))
            return f"{value:g}" if mantissa in shown else ""

        ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax_loss.yaxis.set_minor_formatter(FuncFormatter(minor_label))
    ax_loss.set_title("Loss")
    ax_loss.set_ylabel("cross-entropy per sample" + (" (log scale)" if positive else ""))
    ax_err.set_title("Error rate")
    ax_err.set_ylabel("misclassified samples (%)")
    ax_err.set_ylim(bottom=0.0)
    errors = [np.asarray(history[f"{n}_error"], float) for n in names if history.get(f"{n}_error")]
    if errors and n_epochs >= 10:
        # the first epochs' errors dwarf the rest: zoom in on the part worth reading
        later = max(float(e[max(1, n_epochs // 10) :].max()) for e in errors)
        if 0 < later and 2.5 * later < max(float(e.max()) for e in errors):
            ax_err.set_ylim(0.0, 125.0 * later)
            ax_err.set_title("Error rate (zoomed in: early epochs are off the top)")
    from matplotlib.ticker import MaxNLocator

    kept = at != n_epochs - 1
    legend_title = f"kept model (epoch {epochs[at]:.0f})" if kept else "final value"
    for ax in (ax_loss, ax_err):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
        ax.grid(True, which="major", alpha=0.3)
        if kept:
            ax.axvline(epochs[at], color="0.35", linestyle=":", linewidth=1.2)
        ax.legend(fontsize="small", title=legend_title, title_fontsize="small")
        if n_epochs == 1:
            ax.set_xlim(epochs[0] - 1, epochs[0] + 1)
    if title:
        fig.suptitle(title)
    _save(fig, path)
    return fig


def _lighten(color: str, amount: np.ndarray) -> np.ndarray:
    """RGB of ``color`` mixed with white: amount 0 -> white, 1 -> the colour; shape (..., 3)."""
    from matplotlib.colors import to_rgb

    rgb = np.asarray(to_rgb(color))
    amount = np.asarray(amount, dtype=float)[..., None]
    return 1.0 - amount * (1.0 - rgb)


def decision_regions(
    clf: Any,
    X: Any,
    y: Any,
    path: str | os.PathLike | None = None,
    X_test: Any = None,
    y_test: Any = None,
    title: str | None = None,
    ax: Any = None,
    resolution: int = 300,
) -> Any:
    """The classifier's decision regions on 2-D data, with the training (and test) points.

    Each region has its predicted class's colour, paler where the classifier
    is less sure (the largest class probability nearer 1/n_classes); black
    lines are the decision boundaries. Training points are circles, test
    points triangles, coloured by their true class; the corner box gives the
    accuracy on each.

    Args:
        clf: a fitted classifier with ``predict_proba`` and ``classes_``,
            trained on 2 features.
        X, y: training points (n, 2) and their labels (n,).
        path: write the figure here; None writes nothing.
        X_test, y_test: optional test points, drawn as triangles.
        title: the axes' title.
        ax: draw into these matplotlib axes (e.g. one panel of a grid)
            instead of a new figure.
        resolution: grid points along each axis.

    Returns:
        The ``matplotlib.figure.Figure`` (the one ``ax`` belongs to, if given).
    """
    X = np.asarray(to_numpy(X), dtype=float)
    y = np.asarray(to_numpy(y))
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X: decision regions need 2-D points, shape (n, 2); got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y: expected {X.shape[0]} labels, got shape {y.shape}")
    has_test = X_test is not None and y_test is not None
    if has_test:
        X_test = np.asarray(to_numpy(X_test), dtype=float)
        y_test = np.asarray(to_numpy(y_test))
        if X_test.ndim != 2 or X_test.shape[1] != 2 or y_test.shape != (X_test.shape[0],):
            raise ValueError(
                f"X_test, y_test: expected shapes (n, 2) and (n,), got {X_test.shape} and {y_test.shape}"
            )
    classes = np.asarray(to_numpy(clf.classes_))
    n_classes = classes.shape[0]

    if ax is None:
        fig = _figure((6.4, 5.2))
        ax = fig.add_subplot()
    else:
        fig = ax.figure

    points = np.concatenate([X, X_test]) if has_test else X
    low, high = points.min(axis=0), points.max(axis=0)
    pad = 0.08 * np.maximum(high - low, 1e-9)
    low, high = low - pad, high + pad
    gx = np.linspace(low[0], high[0], resolution)
    gy = np.linspace(low[1], high[1], resolution)
    grid_x, grid_y = np.meshgrid(gx, gy)
    grid = np.column_stack([grid_x.ravel(), grid_y.ravel()])
    proba = np.asarray(to_numpy(clf.predict_proba(grid)), dtype=float)
    proba = proba.reshape(resolution, resolution, n_classes)
    winner = np.argmax(proba, axis=-1)
    confidence = np.max(proba, axis=-1)
    sureness = (confidence - 1.0 / n_classes) / (1.0 - 1.0 / n_classes)  # 0 at a tie, 1 when sure

    colors = [CLASS_COLORS[k % len(CLASS_COLORS)] for k in range(n_classes)]
    image = np.ones((resolution, resolution, 3))
    for k, color in enumerate(colors):
        mine = winner == k
        image[mine] = _lighten(color, 0.12 + 0.33 * sureness[mine])
    ax.imshow(
        image,
        origin="lower",
        extent=(low[0], high[0], low[1], high[1]),
        aspect="auto",
        interpolation="bilinear",
    )
    # boundaries: where class k's probability equals the best of the others
    for k in range(n_classes if n_classes > 2 else 1):
        others = np.delete(proba, k, axis=-1).max(axis=-1)
        margin = proba[..., k] - others
        if margin.min() < 0 < margin.max():
            ax.contour(grid_x, grid_y, margin, levels=[0.0], colors="black", linewidths=1.2)

    def index_of(labels: np.ndarray) -> np.ndarray:
        idx = np.clip(np.searchsorted(classes, labels), 0, n_classes - 1)
        return np.where(classes[idx] == labels, idx, -1)

    def scatter(points: np.ndarray, labels: np.ndarray, marker: str, size: float) -> None:
        idx = index_of(labels)
        face = [colors[i] if i >= 0 else "white" for i in idx]
        ax.scatter(
            points[:, 0],
            points[:, 1],
            c=face,
            marker=marker,
            s=size,
            edgecolors="white" if marker == "o" else "black",
            linewidths=0.6,
            zorder=3,
        )

    scatter(X, y, "o", 26)
    lines = [f"train accuracy {np.mean(_predict(clf, X) == y):.1%} (n={X.shape[0]})"]
    if has_test:
        scatter(X_test, y_test, "^", 34)
        lines.append(f"test accuracy {np.mean(_predict(clf, X_test) == y_test):.1%}")
    ax.text(
        0.015,
        0.015,
        "\n".join(lines),
        transform=ax.transAxes,
        fontsize="small",
        va="bottom",
        ha="left",
        bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.85, "edgecolor": "0.7"},
        zorder=4,
    )

    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="s", linestyle="none", markersize=9, color=c, label=f"class {k}")
        for k, c in zip(classes.tolist(), colors, strict=True)
    ][:10]
    handles.append(
        Line2D([], [], marker="o", linestyle="none", color="0.45", markeredgecolor="white")
    )
    handles[-1].set_label("train point")
    if has_test:
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                linestyle="none",
                color="0.45",
                markeredgecolor="black",
                label="test point",
            )
        )
    handles.append(Line2D([], [], color="black", linewidth=1.2, label="decision boundary"))
    ax.legend(handles=handles, fontsize="x-small", loc="upper right", framealpha=0.85)
    ax.set_xlim(low[0], high[0])
    ax.set_ylim(low[1], high[1])
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    if title:
        ax.set_title(title)
    _save(fig, path)
    return fig


def _predict(clf: Any, X: np.ndarray) -> np.ndarray:
    return np.asarray(to_numpy(clf.predict(X)))
