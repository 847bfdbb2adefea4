"""xpnet.plot: learning curves and decision regions (skipped without matplotlib)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_png, hide_matplotlib

from xpnet import datasets, plot
from xpnet.estimator import MLPClassifier

HISTORY = {
    "epoch": [1, 2, 3, 4],
    "train_loss": [1.5, 0.9, 0.6, 0.5],
    "train_error": [0.4, 0.2, 0.1, 0.08],
    "val_loss": [1.4, 1.0, 0.8, 0.85],
    "val_error": [0.45, 0.25, 0.15, 0.2],
    "test_loss": [1.6, 1.1, 0.9, 0.95],
    "test_error": [0.5, 0.3, 0.2, 0.25],
    "learning_rate": [0.01] * 4,
    "seconds": [0.1] * 4,
}


@pytest.fixture(scope="module")
def moons_clf():
    X, y = datasets.make_moons(120, 0.15, seed=0)
    X_train, X_test, y_train, y_test = datasets.train_test_split(X, y, 0.25, 0, stratify=True)
    clf = MLPClassifier(
        (16,), max_iter=150, learning_rate_init=0.1, random_state=0, backend="numpy"
    )
    clf.fit(X_train, y_train)
    return clf, X_train, y_train, X_test, y_test


def test_importing_xpnet_plot_does_not_import_matplotlib():
    code = "import sys, xpnet.plot; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_plots_never_touch_pyplot_or_the_global_backend(tmp_path):
    pytest.importorskip("matplotlib")
    code = (
        "import sys, matplotlib; from xpnet import plot; "
        f"plot.learning_curves({HISTORY!r}, {str(tmp_path / 'c.png')!r}); "
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'; "
        # private, but the only way to ask without choosing one (None: not chosen yet)
        "chosen = getattr(matplotlib.rcParams, '_get_backend_or_none', lambda: None)(); "
        "assert chosen is None, 'a backend was chosen'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert_png(tmp_path / "c.png")


def test_learning_curves_without_matplotlib_says_how_to_install_it(monkeypatch):
    hide_matplotlib(monkeypatch)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        plot.learning_curves(HISTORY)


def test_learning_curves_plots_loss_and_error_of_every_set(tmp_path):
    pytest.importorskip("matplotlib")
    fig = plot.learning_curves(HISTORY, tmp_path / "curves.png", title="a run")
    assert_png(tmp_path / "curves.png")
    ax_loss, ax_err = fig.axes
    assert fig._suptitle.get_text() == "a run"
    assert ax_loss.get_title() and ax_err.get_title()
    assert ax_loss.get_xlabel() == "epoch" and ax_err.get_xlabel() == "epoch"
    assert "cross-entropy" in ax_loss.get_ylabel() and "%" in ax_err.get_ylabel()
    for ax, suffix, scale in ((ax_loss, "loss", 1.0), (ax_err, "error", 100.0)):
        curves = {line.get_label().split(":")[0]: line for line in ax.get_lines()}
        legend = [text.get_text() for text in ax.get_legend().get_texts()]
        for name, label in (("train", "train"), ("val", "validation"), ("test", "test")):
            line = next(v for k, v in curves.items() if k.startswith(label))
            np.testing.assert_allclose(line.get_xdata(), HISTORY["epoch"])
            np.testing.assert_allclose(
                line.get_ydata(), scale * np.asarray(HISTORY[f"{name}_{suffix}"])
            )
            assert any(text.startswith(label) for text in legend)
    # the best validation error is marked, at epoch 3 (15 %)
    star = next(
        line for line in ax_err.get_lines() if line.get_label().startswith("best validation")
    )
    assert (star.get_xdata()[0], star.get_ydata()[0]) == (3, pytest.approx(15.0))


def test_learning_curves_accept_a_fitted_estimator(moons_clf):
    pytest.importorskip("matplotlib")
    clf = moons_clf[0]
    fig = plot.learning_curves(clf)
    (train_loss,) = [
        line for line in fig.axes[0].get_lines() if line.get_label().startswith("train")
    ]
    np.testing.assert_allclose(train_loss.get_ydata(), clf.history_["train_loss"])


def _legend(ax):
    legend = ax.get_legend()
    return legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()]


def test_learning_curves_report_the_kept_epoch_and_mark_it():
    pytest.importorskip("matplotlib")
    fig = plot.learning_curves(HISTORY, kept_epoch=3)
    ax_loss, ax_err = fig.axes
    title, loss_texts = _legend(ax_loss)
    assert title == "kept model (epoch 3)"
    assert "train (objective during the epoch): 0.6" in loss_texts  # epoch 3, not 4 (0.5)
    assert "validation: 0.8" in loss_texts
    assert "validation: 15.00%" in _legend(ax_err)[1]
    dotted = [line for line in ax_err.get_lines() if line.get_linestyle() == ":"]
    assert [line.get_xdata()[0] for line in dotted] == [3]
    assert _legend(plot.learning_curves(HISTORY).axes[0])[0] == "final value"
    with pytest.raises(ValueError, match="kept_epoch"):
        plot.learning_curves(HISTORY, kept_epoch=9)


def test_an_early_stopped_model_reports_the_parameters_it_kept():
    pytest.importorskip("matplotlib")
    X, y = datasets.make_moons(200, 0.3, seed=1)
    clf = MLPClassifier(
        (8,),
        max_iter=60,
        learning_rate_init=0.05,
        early_stopping=True,
        n_iter_no_change=8,
        random_state=0,
        backend="numpy",
    ).fit(X, y)
    errors = np.asarray(clf.history_["val_error"])
    assert errors[-1] > errors.min()  # the last epoch is not the kept one
    _, texts = _legend(plot.learning_curves(clf).axes[1])
    kept_error = 100 * (1 - clf.best_validation_score_)  # the estimator's own record
    assert f"validation: {kept_error:.2f}%" in texts


def test_short_runs_get_whole_epoch_ticks():
    pytest.importorskip("matplotlib")
    history = {key: values[:3] for key, values in HISTORY.items()}
    fig = plot.learning_curves(history)
    fig.canvas.draw()  # the locator runs at draw time
    for ax in fig.axes:
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks)


def test_learning_curves_reject_an_empty_history():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="history"):
        plot.learning_curves({"epoch": [], "train_loss": []})
    with pytest.raises(TypeError, match="history"):
        plot.learning_curves([1, 2, 3])


def test_decision_regions_colour_each_pixel_by_the_predicted_class(tmp_path, moons_clf):
    pytest.importorskip("matplotlib")
    clf, X_train, y_train, X_test, y_test = moons_clf
    fig = plot.decision_regions(
        clf, X_train, y_train, tmp_path / "regions.png", X_test=X_test, y_test=y_test, title="moons"
    )
    assert_png(tmp_path / "regions.png")
    (ax,) = fig.axes
    assert ax.get_title() == "moons" and ax.get_xlabel() and ax.get_ylabel()
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert {"class 0", "class 1", "train point", "test point", "decision boundary"} <= set(legend)

    image = ax.get_images()[0]
    rgb = np.asarray(image.get_array(), dtype=float)[..., :3]
    x0, x1, y0, y1 = image.get_extent()
    rows, cols = rgb.shape[:2]
    rng = np.random.default_rng(0)
    picks = rng.integers(0, [rows, cols], size=(300, 2))
    points = np.column_stack(
        [x0 + picks[:, 1] * (x1 - x0) / (cols - 1), y0 + picks[:, 0] * (y1 - y0) / (rows - 1)]
    )
    # a region colour is white mixed with its class colour: 1 - pixel points along 1 - colour
    from matplotlib.colors import to_rgb

    directions = np.array([1 - np.asarray(to_rgb(c)) for c in plot.CLASS_COLORS[:2]])
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    shade = 1 - rgb[picks[:, 0], picks[:, 1]]
    shade /= np.linalg.norm(shade, axis=1, keepdims=True)
    colour_class = np.argmax(shade @ directions.T, axis=1)
    predicted = np.asarray(clf.predict(points))
    assert np.mean(colour_class == predicted) > 0.98  # pixels on a boundary may differ

    # the points are drawn where they are, in their true class's colour
    from matplotlib.collections import PathCollection

    dots = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(dots) == 2
    for collection, X, y in zip(dots, (X_train, X_test), (y_train, y_test), strict=True):
        np.testing.assert_allclose(collection.get_offsets(), X)
        expected = np.array([to_rgb(plot.CLASS_COLORS[label]) for label in y])
        np.testing.assert_allclose(collection.get_facecolors()[:, :3], expected)


def test_decision_regions_report_the_accuracies(moons_clf):
    pytest.importorskip("matplotlib")
    clf, X_train, y_train, X_test, y_test = moons_clf
    fig = plot.decision_regions(clf, X_train, y_train, X_test=X_test, y_test=y_test)
    text = "\n".join(t.get_text() for t in fig.axes[0].texts)
    train_acc = np.mean(np.asarray(clf.predict(X_train)) == y_train)
    test_acc = np.mean(np.asarray(clf.predict(X_test)) == y_test)
    assert f"train accuracy {train_acc:.1%}" in text
    assert f"test accuracy {test_acc:.1%}" in text


def test_decision_regions_draw_into_a_given_axes(moons_clf):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    clf, X_train, y_train, _, _ = moons_clf
    fig = Figure()
    axes = fig.subplots(1, 2)
    assert plot.decision_regions(clf, X_train, y_train, ax=axes[1], title="right") is fig
    assert axes[1].get_title() == "right" and axes[1].get_images()
    assert not axes[0].get_images()


def test_decision_regions_need_two_features(moons_clf):
    pytest.importorskip("matplotlib")
    clf = moons_clf[0]
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plot.decision_regions(clf, np.zeros((5, 3)), np.zeros(5))
