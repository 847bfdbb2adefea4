"""Checkpoints are untrusted input, field by field: every loop-state field is checked for
type, range, dtype and shape before any of it is used, and anything wrong is a
ValueError naming the file and the field (never TypeError, OverflowError, KeyError or a
silent cast)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet import io as xio

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A real checkpoint (sgd with momentum: one slot) and its parts."""
    path = tmp_path_factory.mktemp("ckpt") / "run.npz"
    X, y = xpnet.datasets.load_digits()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xpnet.MLPClassifier(
            hidden_layer_sizes=(5,),
            solver="sgd",
            momentum=0.9,
            max_iter=2,
            random_state=0,
            backend="numpy",
            early_stopping=True,
        ).fit(X[:200] / 16, y[:200], checkpoint=path)
    meta, arrays = xio.read_archive(path, xio.CHECKPOINT_FORMAT)
    return path, meta, arrays


def _write(tmp_path, meta, arrays, name="bad.npz"):
    target = tmp_path / name
    xio.write_archive(target, meta, arrays)
    return target


def _refused(path, field):
    with pytest.raises(ValueError) as info:
        xio.load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and field in message, message
    return message


def test_the_unmodified_checkpoint_loads(checkpoint, tmp_path):
    _, meta, arrays = checkpoint
    state, _, _ = xio.load_checkpoint(_write(tmp_path, meta, dict(arrays)))
    assert state.epoch == 2 and set(state.opt_state["slots"]) == {"velocity"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("opt_slots", 3),
        ("opt_slots", {"velocity": "4"}),
        ("opt_slots", {"velocity": True}),
        ("opt_slots", {"velocity": 3}),
        ("opt_slots", {"momentum": 4}),
        ("opt_count", -1),
        ("opt_count", 2**200),
        ("opt_count", 1.5),
        ("opt_lr_scale", 0),
        ("opt_lr_scale", "1"),
        ("seed", -5),
        ("seed", 2**70),
        ("seed", "7"),
        ("epoch", -1),
        ("epoch", None),
        ("no_improvement", 2**64),
        ("best_score", "inf"),
        ("has_best", "yes"),
        ("stopped", 5),
        ("history", {"train_loss": ["x", 1.0]}),
        ("history", {"train_loss": [1e309, 1.0]}),
    ],
)
def test_a_bad_loop_field_is_refused_naming_it(checkpoint, tmp_path, field, value):
    _, meta, arrays = checkpoint
    bad = dict(meta, **{field: value})
    _refused(_write(tmp_path, bad, dict(arrays)), field if field != "epoch" else "epoch")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda s: dict(s, bit_generator="MT19937"),
        lambda s: dict(s, state={"state": 2**200, "inc": 1}),
        lambda s: dict(s, state={"state": -5, "inc": 1}),
        lambda s: dict(s, state={"state": 3, "inc": 2}),
        lambda s: dict(s, state={"state": 3}),
        lambda s: dict(s, uinteger=2**40),
        lambda s: dict(s, has_uint32=2),
        lambda s: {k: v for k, v in s.items() if k != "uinteger"},
        lambda s: [1, 2],
    ],
    ids=[
        "other-generator",
        "huge",
        "negative",
        "even-inc",
        "no-inc",
        "uinteger",
        "flag",
        "missing",
        "list",
    ],
)
def test_a_bad_generator_state_is_refused(checkpoint, tmp_path, mutate):
    _, meta, arrays = checkpoint
    bad = dict(meta, rng_state=mutate(meta["rng_state"]))
    _refused(_write(tmp_path, bad, dict(arrays)), "rng_state")


@pytest.mark.parametrize(
    "leaf",
    [
        np.array(["abcde"] * 5),
        np.zeros((5, 64), dtype=np.complex128),
        np.zeros((5, 64), dtype="datetime64[s]"),
        np.zeros((5, 64), dtype=[("a", "f4")]),
        np.zeros((5, 64), dtype=np.float16),
        np.zeros((64, 5), dtype=np.float32),
        np.full((5, 64), np.nan, dtype=np.float32),
    ],
    ids=["str", "complex", "datetime", "structured", "float16", "transposed", "nan"],
)
def test_a_bad_optimizer_array_is_refused(checkpoint, tmp_path, leaf):
    _, meta, arrays = checkpoint
    bad_arrays = dict(arrays, **{"opt.velocity.0": leaf})
    _refused(_write(tmp_path, meta, bad_arrays), "opt.velocity.0")


def test_a_missing_or_stray_optimizer_array_is_refused(checkpoint, tmp_path):
    _, meta, arrays = checkpoint
    missing = {k: v for k, v in arrays.items() if k != "opt.velocity.2"}
    _refused(_write(tmp_path, meta, missing, "a.npz"), "opt.velocity.2")
    stray = dict(arrays, **{"opt.mu.0": arrays["opt.velocity.0"]})
    _refused(_write(tmp_path, meta, stray, "b.npz"), "opt.mu.0")


@pytest.mark.parametrize(
    "classes",
    [np.zeros(10, dtype=[("a", "i8")]), np.zeros(10, dtype=np.float64), np.arange(9), np.zeros(10)],
    ids=["structured", "float", "too-few", "duplicates"],
)
def test_bad_classes_are_refused(checkpoint, tmp_path, classes):
    _, meta, arrays = checkpoint
    _refused(_write(tmp_path, meta, dict(arrays, classes=classes)), "classes")


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(
        [
            "opt_slots",
            "opt_count",
            "opt_lr_scale",
            "seed",
            "epoch",
            "no_improvement",
            "best_score",
            "has_best",
            "stopped",
            "history",
            "rng_state",
            "n_samples",
        ]
    ),
    value=_json,
)
def test_any_value_in_any_field_loads_or_is_a_value_error(checkpoint, tmp_path, field, value):
    _, meta, arrays = checkpoint
    path = _write(tmp_path, dict(meta, **{field: value}), dict(arrays))
    try:
        xio.load_checkpoint(path)
    except ValueError as e:
        assert field in str(e) or "metadata" in str(e) or "history" in str(e), str(e)
