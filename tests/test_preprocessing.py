"""The input standardisation (``standardize=True``): learned in float64 on the host in
blocks, applied in predict / score, the same for data in memory, memory-mapped or dask.

References: NumPy float64 (the mean and the population standard deviation written
out), scikit-learn's StandardScaler, and the network evaluated by hand in NumPy."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import xpnet
from xpnet import preprocessing
from xpnet.backend import is_out_of_core
from xpnet.preprocessing import StandardizedRows, Standardizer

pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")

RNG = np.random.default_rng(11)
X_RAW = RNG.normal(size=(500, 5)) * [1.0, 300.0, 1e-3, 7.0, 1.0] + [2.0, -900.0, 5.0, 0.0, 0.0]
X_RAW[:, 4] = 0.1  # a constant feature (0.1 is not exact in binary: its std rounds to ~1e-17)
Y = (X_RAW[:, 0] - 2.0 + (X_RAW[:, 1] + 900.0) / 300.0 > 0).astype(int)


def _reference(X):
    X = np.asarray(X, dtype=np.float64)
    mean = X.sum(axis=0) / X.shape[0]
    std = np.sqrt(((X - mean) ** 2).sum(axis=0) / X.shape[0])
    return mean, std


def _numpy_forward(params, X, activation="relu"):
    """The network by hand, float64: hidden act(W h + b), identity output."""
    h = np.asarray(X, dtype=np.float64)
    for k, (W, b) in enumerate(params):
        h = h @ np.asarray(W, dtype=np.float64).T + np.asarray(b, dtype=np.float64)
        if k < len(params) - 1:
            h = np.maximum(h, 0.0) if activation == "relu" else np.tanh(h)
    return h


@pytest.mark.parametrize("block_elements", [1 << 22, 35, 5], ids=["one-block", "7-rows", "1-row"])
def test_learned_statistics_equal_numpy_float64_in_any_number_of_blocks(
    monkeypatch, block_elements
):
    monkeypatch.setattr(preprocessing, "BLOCK_ELEMENTS", block_elements)
    s = Standardizer().fit(X_RAW)
    mean, std = _reference(X_RAW)
    np.testing.assert_allclose(s.mean_, mean, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(s.scale_[:4], std[:4], rtol=1e-10)
    assert s.scale_[4] == 1.0  # zero variance: scale 1, so the feature maps to 0
    np.testing.assert_allclose(s.var_[:4], std[:4] ** 2, rtol=1e-10)
    assert (s.n_samples_seen_, s.n_features_in_, s.learned) == (500, 5, True)
    Z = s.transform(X_RAW)
    np.testing.assert_allclose(Z[:, :4], (X_RAW[:, :4] - mean[:4]) / std[:4], rtol=0, atol=1e-10)
    assert np.all(np.abs(Z[:, 4]) < 1e-15)
    np.testing.assert_allclose(s.inverse_transform(Z), X_RAW, rtol=1e-12, atol=1e-12)


def test_one_block_gives_exactly_numpys_mean_and_std():
    s = Standardizer().fit(X_RAW[:, :4])
    assert np.array_equal(s.mean_, X_RAW[:, :4].mean(axis=0))
    assert np.array_equal(s.scale_, X_RAW[:, :4].std(axis=0))


def test_statistics_and_transform_equal_scikit_learns_standard_scaler():
    sk = pytest.importorskip("sklearn.preprocessing")
    scaler = sk.StandardScaler().fit(X_RAW)
    s = Standardizer().fit(X_RAW)
    np.testing.assert_allclose(s.mean_, scaler.mean_, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(s.scale_, scaler.scale_, rtol=1e-10)
    np.testing.assert_allclose(s.transform(X_RAW), scaler.transform(X_RAW), rtol=0, atol=1e-10)


def test_statistics_learned_from_any_backends_array_equal_numpys(backend, to_np):
    X = backend.asarray(X_RAW[:, :4], "float64")
    s = Standardizer().fit(X)
    mean, std = _reference(X_RAW[:, :4])
    np.testing.assert_allclose(s.mean_, mean, rtol=1e-13)
    np.testing.assert_allclose(s.scale_, std, rtol=1e-10)
    assert isinstance(s.transform(X, "float32"), np.ndarray)


def test_given_statistics_are_checked_and_broadcast():
    s = Standardizer.from_stats(0.0, 16.0, 3)
    assert s.mean_.tolist() == [0.0] * 3 and s.scale_.tolist() == [16.0] * 3
    assert not s.learned and s.var_ is None
    assert s.transform(np.array([[16.0, 8.0, 0.0]])).tolist() == [[1.0, 0.5, 0.0]]
    with pytest.raises(ValueError, match="scale: must be positive"):
        Standardizer.from_stats([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="one length"):
        Standardizer.from_stats([0.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        Standardizer.from_stats([np.nan], [1.0])
    with pytest.raises(ValueError, match="learned for 3 features"):
        s.transform(np.ones((2, 4)))
    with pytest.raises(ValueError, match="not fitted"):
        Standardizer().transform(np.ones((2, 4)))


@pytest.mark.parametrize("cls", [xpnet.MLPClassifier, xpnet.MLPRegressor])
def test_predict_is_the_network_on_the_standardised_input(backend, to_np, cls):
    if cls is xpnet.MLPRegressor and backend.name != "numpy":
        pytest.skip("the regressor on NumPy only: the classifier covers the backends")
    """The model learns the mean and scale, trains on standardised X, and applies them:
    predict(X raw) equals the bare network (NumPy float64) on (X - mean) / std."""
    y = Y if cls is xpnet.MLPClassifier else X_RAW[:, 0] + X_RAW[:, 1] / 300.0
    model = cls(
        (6,), max_iter=5, random_state=0, backend=backend.name, dtype="float64", standardize=True
    ).fit(backend.asarray(X_RAW, "float64"), backend.asarray(y))
    mean, std = _reference(X_RAW)
    std[4] = 1.0
    np.testing.assert_allclose(model.standardizer_.mean_, mean, rtol=1e-13)
    params = [(to_np(W), to_np(b)) for W, b in model.params_]
    logits = _numpy_forward(params, (X_RAW - mean) / std)
    X_in = backend.asarray(X_RAW, "float64")
    if cls is xpnet.MLPClassifier:
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(to_np(model.predict_proba(X_in)), proba, rtol=1e-9, atol=1e-12)
        assert model.score(X_in, backend.asarray(Y)) == np.mean(logits.argmax(axis=1) == Y)
    else:
        np.testing.assert_allclose(to_np(model.predict(X_in)), logits[:, 0], rtol=1e-9, atol=1e-9)


def test_standardize_true_equals_standardising_by_hand_in_float32():
    """The standardised X is what training sees, in the training dtype: a fit with
    standardize=True is bit-identical to a fit on (X - mean) / std cast to float32."""
    params = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0, backend="numpy")
    mine = xpnet.MLPClassifier(**params, standardize=True).fit(X_RAW, Y)
    mean, std = X_RAW.mean(axis=0), X_RAW.std(axis=0)
    std[4] = 1.0  # the constant feature
    by_hand = xpnet.MLPClassifier(**params).fit(((X_RAW - mean) / std).astype(np.float32), Y)
    for (W, b), (V, c) in zip(mine.params_, by_hand.params_, strict=True):
        assert np.array_equal(W, V) and np.array_equal(b, c)
    assert mine.params_[0][0].dtype == np.float32


@pytest.mark.parametrize("early_stopping", [False, True], ids=["all-rows", "validation-split"])
def test_a_memory_mapped_fit_standardises_per_minibatch_and_equals_the_in_memory_fit(
    tmp_path, monkeypatch, early_stopping
):
    params = dict(
        hidden_layer_sizes=(6,), max_iter=3, batch_size=64, random_state=1, backend="numpy",
        dtype="float64", standardize=True, early_stopping=early_stopping, n_iter_no_change=50,
    )  # fmt: skip
    resident = xpnet.MLPClassifier(**params).fit(X_RAW, Y, eval_sets={"test": (X_RAW[:50], Y[:50])})
    np.save(tmp_path / "X.npy", X_RAW)
    X_map = np.load(tmp_path / "X.npy", mmap_mode="r")
    from xpnet.estimators import base

    seen = []
    real_train = base.train

    def spy(state, train_data, *args, **kwargs):
        seen.append(train_data.X)
        return real_train(state, train_data, *args, **kwargs)

    monkeypatch.setattr(base, "train", spy)
    mapped = xpnet.MLPClassifier(**params).fit(X_map, Y, eval_sets={"test": (X_RAW[:50], Y[:50])})
    # the training rows stay in the file: standardised a minibatch at a time, no copy
    assert isinstance(seen[0], StandardizedRows) and is_out_of_core(seen[0])
    assert np.array_equal(mapped.standardizer_.mean_, resident.standardizer_.mean_)
    assert np.array_equal(mapped.standardizer_.scale_, resident.standardizer_.scale_)
    for (W, b), (V, c) in zip(mapped.params_, resident.params_, strict=True):
        assert np.array_equal(W, V) and np.array_equal(b, c)
    assert mapped.history_ == resident.history_ | {"seconds": mapped.history_["seconds"]}
    assert np.array_equal(mapped.predict_proba(X_map), resident.predict_proba(X_RAW))


def test_a_dask_fit_with_standardize_equals_the_in_memory_fit():
    da = pytest.importorskip("dask.array", reason="dask is not installed")
    params = dict(
        hidden_layer_sizes=(4,), max_iter=2, batch_size=50, random_state=2, backend="numpy",
        dtype="float64", standardize=True,
    )  # fmt: skip
    lazy = xpnet.MLPClassifier(**params).fit(da.from_array(X_RAW, chunks=(128, 5)), Y)
    resident = xpnet.MLPClassifier(**params).fit(X_RAW, Y)
    for (W, b), (V, c) in zip(lazy.params_, resident.params_, strict=True):
        assert np.array_equal(W, V) and np.array_equal(b, c)


def test_statistics_are_learned_on_a_new_fit_and_kept_by_warm_fits_and_partial_fit():
    clf = xpnet.MLPClassifier((4,), max_iter=2, random_state=0, backend="numpy", standardize=True)
    clf.fit(X_RAW, Y)
    first = clf.standardizer_.mean_.copy()
    clf.set_params(warm_start=True).fit(X_RAW * 2.0, Y)  # a warm fit keeps them
    assert np.array_equal(clf.standardizer_.mean_, first)
    clf.partial_fit(X_RAW * 3.0, Y)  # and so does partial_fit
    assert np.array_equal(clf.standardizer_.mean_, first)
    clf.set_params(warm_start=False).fit(X_RAW * 2.0, Y)  # a new fit learns them again
    np.testing.assert_allclose(clf.standardizer_.mean_, 2.0 * first, rtol=1e-13)
    fresh = xpnet.MLPClassifier((4,), random_state=0, backend="numpy", standardize=True)
    fresh.partial_fit(X_RAW[:100], Y[:100], classes=[0, 1])  # the first call's rows
    np.testing.assert_allclose(fresh.standardizer_.mean_, X_RAW[:100].mean(axis=0), rtol=1e-13)
    plain = xpnet.MLPClassifier((4,), max_iter=1, backend="numpy").fit(X_RAW, Y)
    assert plain.standardizer_ is None


def test_changing_standardize_for_a_warm_fit_or_a_wrong_given_standardizer_is_refused():
    clf = xpnet.MLPClassifier((4,), max_iter=1, backend="numpy", warm_start=True).fit(X_RAW, Y)
    clf.set_params(standardize=True)
    with pytest.raises(ValueError, match="standardize: the model was fitted without"):
        clf.fit(X_RAW, Y)
    with pytest.raises(ValueError, match="standardize: the model was fitted without"):
        clf.partial_fit(X_RAW, Y)
    given = xpnet.MLPClassifier(max_iter=1, standardize=Standardizer.from_stats(0, 1, 3))
    with pytest.raises(ValueError, match="standardize: the given Standardizer has 3 features"):
        given.fit(X_RAW, Y)
    with pytest.raises(TypeError, match="standardize"):
        xpnet.MLPClassifier(standardize="yes").fit(X_RAW, Y)


def test_a_given_standardizer_is_applied_as_given():
    pixels = Standardizer.from_stats(0.0, 16.0, 5)
    params = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=0, backend="numpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = xpnet.MLPClassifier(**params, standardize=pixels).fit(X_RAW, Y)
        by_hand = xpnet.MLPClassifier(**params).fit((X_RAW / 16.0).astype(np.float32), Y)
    assert mine.standardizer_ is not pixels and np.array_equal(
        mine.standardizer_.scale_, [16.0] * 5
    )
    for (W, b), (V, c) in zip(mine.params_, by_hand.params_, strict=True):
        assert np.array_equal(W, V) and np.array_equal(b, c)


def test_the_docstring_example_runs():
    import doctest

    result = doctest.testmod(preprocessing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_weighted_statistics_count_a_weight_of_2_as_the_row_twice(monkeypatch):
    monkeypatch.setattr(preprocessing, "BLOCK_ELEMENTS", 35)  # blocks of 7 rows
    w = RNG.integers(0, 4, size=500)
    repeated = np.repeat(X_RAW, w, axis=0)
    s = Standardizer().fit(X_RAW, sample_weight=w.astype(float))
    mean, std = _reference(repeated)
    np.testing.assert_allclose(s.mean_, mean, rtol=1e-12)
    np.testing.assert_allclose(s.scale_[:4], std[:4], rtol=1e-10)
    assert s.scale_[4] == 1.0
    sk = pytest.importorskip("sklearn.preprocessing")
    scaler = sk.StandardScaler().fit(X_RAW, sample_weight=w)
    np.testing.assert_allclose(s.mean_, scaler.mean_, rtol=1e-12)
    np.testing.assert_allclose(s.scale_, scaler.scale_, rtol=1e-10)
    with pytest.raises(ValueError, match="sample_weight"):
        Standardizer().fit(X_RAW, sample_weight=-np.ones(500))


def test_a_weighted_fit_learns_the_weighted_statistics():
    w = np.r_[np.full(250, 3.0), np.ones(250)]
    clf = xpnet.MLPClassifier((4,), max_iter=1, backend="numpy", standardize=True)
    clf.fit(X_RAW, Y, sample_weight=w)
    np.testing.assert_allclose(
        clf.standardizer_.mean_, np.average(X_RAW, axis=0, weights=w), rtol=1e-12
    )


def test_scikit_learns_sample_weight_equivalence_holds_with_standardize():
    checks = pytest.importorskip("sklearn.utils.estimator_checks")
    clf = xpnet.MLPClassifier(
        (10,), max_iter=100, learning_rate_init=0.05, dtype="float64", backend="numpy",
        random_state=0, standardize=True,
    )  # fmt: skip
    checks.check_sample_weight_equivalence_on_dense_data("MLPClassifier", clf)


def test_in_memory_data_streamed_for_lack_of_device_memory_is_standardised_the_same(monkeypatch):
    from xpnet.backend import Backend

    params = dict(
        hidden_layer_sizes=(5,), max_iter=2, batch_size=64, random_state=4, backend="numpy",
        dtype="float64", standardize=True,
    )  # fmt: skip
    resident = xpnet.MLPClassifier(**params).fit(X_RAW, Y)
    monkeypatch.setattr(Backend, "free_memory", lambda self: 1024)  # too small: stream
    streamed = xpnet.MLPClassifier(**params).fit(X_RAW, Y)
    for (W, b), (V, c) in zip(streamed.params_, resident.params_, strict=True):
        assert np.array_equal(W, V) and np.array_equal(b, c)
