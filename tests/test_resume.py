"""Checkpoints and resume: an interrupted run, resumed, ends where the uninterrupted one does.

* 6 epochs in one go equal 3 epochs with a checkpoint plus a resumed run to 6
  (bit-identical on NumPy, within 1e-6 elsewhere) for SGD with momentum, Adam
  and early stopping on a validation split;
* a training process killed with SIGKILL mid-epoch leaves a valid checkpoint,
  and resuming from it ends bit-identical to an uninterrupted run, taking
  over the killed run's lock and removing any temporary file it left;
* Ctrl-C (SIGINT) mid-epoch: the checkpoint stays valid, the process says how
  to resume, and resuming ends equal to the uninterrupted run;
* a damaged checkpoint, or one written with other settings, is a ValueError.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import io as xio
from xpnet.datasets import load_digits


def _digits(n: int = 600) -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits()
    return X[:n] / 16.0, y[:n]


X, Y = _digits()
EVAL = {"test": (X[:150], Y[:150])}

CONFIGS = {
    "sgd-momentum": dict(solver="sgd", momentum=0.9, learning_rate_init=0.05),
    "adam": dict(solver="adam", learning_rate_init=3e-3),
    # patience 3 with an unreachable tol: the counter exceeds it at epoch 5 (scikit-learn's
    # rule), so the resumed run (from epoch 3) must carry on the patience counter and the
    # best parameters
    "early-stopping": dict(
        solver="sgd",
        momentum=0.9,
        learning_rate="invscaling",
        power_t=0.25,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=3,
        tol=0.5,
    ),
}


def _clf(backend: str, config: str, max_iter: int, random_state: int | None = 7):
    return xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        batch_size=64,
        max_iter=max_iter,
        random_state=random_state,
        backend=backend,
        **CONFIGS[config],
    )


def _host_params(clf) -> list[np.ndarray]:
    return [xpnet.to_numpy(a) for pair in clf.params_ for a in pair]


def _history_without_time(clf) -> dict:
    return {k: v for k, v in clf.history_.items() if k != "seconds"}


def _meta(path: Path) -> dict:
    meta, _ = xio.read_archive(path, xio.CHECKPOINT_FORMAT)
    return meta


@pytest.mark.parametrize("config", list(CONFIGS))
def test_three_epochs_then_resume_equals_six_epochs(backend, config, tmp_path):
    path = tmp_path / "run.ckpt"
    full = _clf(backend.name, config, 6).fit(X, Y, eval_sets=EVAL)
    first = _clf(backend.name, config, 3).fit(X, Y, eval_sets=EVAL, checkpoint=path)
    assert _meta(path)["epoch"] == 3 == first.n_iter_
    # random_state=None: the checkpoint's seed (which drew the validation split) decides
    resumed = _clf(backend.name, config, 6, random_state=None).fit(
        X, Y, eval_sets=EVAL, checkpoint=path, resume=True
    )
    assert resumed.n_iter_ == full.n_iter_
    if config == "early-stopping":
        assert full.n_iter_ == 5, "the case must stop early after the resume point"
    exact = backend.name == "numpy"
    for got, want in zip(_host_params(resumed), _host_params(full), strict=True):
        if exact:
            assert np.array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    h_full, h_resumed = _history_without_time(full), _history_without_time(resumed)
    assert h_full.keys() == h_resumed.keys()
    for key in h_full:
        np.testing.assert_allclose(h_resumed[key], h_full[key], rtol=0 if exact else 1e-6)
    assert _meta(path)["epoch"] == full.n_iter_


# ------------------------------------------------------------------ real interruptions

_TRAINER = """
import sys, time
import numpy as np
import xpnet
from xpnet.datasets import load_digits

X, y = load_digits()
X = X / 16.0
clf = xpnet.MLPClassifier(hidden_layer_sizes=(16,), batch_size=100, max_iter={max_iter},
                          solver="adam", learning_rate_init=3e-3, random_state=11,
                          backend="numpy")
def slow(batch, n_batches):
    time.sleep({sleep})
clf.fit(X, y, checkpoint=sys.argv[1], on_batch=slow)
print("finished", flush=True)
"""

MAX_ITER = 6


def _uninterrupted() -> xpnet.MLPClassifier:
    X_all, y_all = load_digits()
    return xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        batch_size=100,
        max_iter=MAX_ITER,
        solver="adam",
        learning_rate_init=3e-3,
        random_state=11,
        backend="numpy",
    ).fit(X_all / 16.0, y_all)


def _resume(path: Path) -> xpnet.MLPClassifier:
    X_all, y_all = load_digits()
    clf = xpnet.MLPClassifier(
        hidden_layer_sizes=(16,),
        batch_size=100,
        max_iter=MAX_ITER,
        solver="adam",
        learning_rate_init=3e-3,
        random_state=11,
        backend="numpy",
    )
    return clf.fit(X_all / 16.0, y_all, checkpoint=path, resume=True)


def _start_trainer(tmp_path: Path, sleep: float) -> tuple[subprocess.Popen, Path]:
    script = tmp_path / "trainer.py"
    script.write_text(textwrap.dedent(_TRAINER).format(max_iter=MAX_ITER, sleep=sleep))
    path = tmp_path / "run.ckpt"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, path


def _wait_for_epoch(proc: subprocess.Popen, path: Path, epoch: int, timeout: float = 60) -> int:
    """Poll until the checkpoint exists and holds at least ``epoch``; return what it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"trainer ended early ({proc.returncode}): {out}\n{err}")
        if path.is_file():
            try:
                held = _meta(path)["epoch"]
            except ValueError:  # cannot happen with atomic writes: fail loudly below
                raise
            if held >= epoch:
                return held
        time.sleep(0.005)
    proc.kill()
    pytest.fail("no checkpoint appeared in time")


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    proc, path = _start_trainer(tmp_path, sleep=0.02)  # 18 batches: ~0.4 s per epoch
    try:
        held = _wait_for_epoch(proc, path, 1)
        time.sleep(0.1)  # well inside the next epoch
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL, "the trainer finished before it was killed"
    meta = _meta(path)  # still a valid checkpoint: written atomically
    assert held <= meta["epoch"] < MAX_ITER
    # a kill during a write leaves its temporary file: plant one so the removal is tested
    (tmp_path / ".run.ckpt.k1ll3d_x.tmp").write_bytes(b"PK\x03\x04 half a checkpoint")
    assert (tmp_path / "run.ckpt.lock").exists()  # the killed run's, unlocked by its death
    resumed = _resume(path)
    assert resumed.n_iter_ == MAX_ITER
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".", "run"))) == [
        "run.ckpt"
    ]
    for got, want in zip(_host_params(resumed), _host_params(_uninterrupted()), strict=True):
        assert np.array_equal(got, want)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process is POSIX")
def test_ctrl_c_leaves_a_valid_checkpoint_and_says_how_to_resume(tmp_path):
    proc, path = _start_trainer(tmp_path, sleep=0.02)
    try:
        _wait_for_epoch(proc, path, 2)
        time.sleep(0.1)
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "finished" not in out, "the trainer finished before Ctrl-C"
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    held = _meta(path)["epoch"]  # loads: the checkpoint is valid
    assert 2 <= held < MAX_ITER
    assert f"the checkpoint {path} holds epoch {held}" in err, err
    assert "resume=True" in err
    resumed = _resume(path)
    for got, want in zip(_host_params(resumed), _host_params(_uninterrupted()), strict=True):
        assert np.array_equal(got, want)


# ------------------------------------------------------------------ refusals


@pytest.fixture(scope="module")
def checkpoint_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt"
    _clf("numpy", "sgd-momentum", 2).fit(X, Y, checkpoint=path)
    return path


def _resume_from(path: Path, **changes):
    clf = _clf("numpy", "sgd-momentum", 4)
    clf.set_params(**changes)
    return clf.fit(X, Y, checkpoint=path, resume=True)


def test_truncated_checkpoint_is_a_value_error_naming_the_file(checkpoint_file, tmp_path):
    damaged = tmp_path / "truncated.ckpt"
    data = checkpoint_file.read_bytes()
    damaged.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated.ckpt"):
        _resume_from(damaged)


def test_corrupted_checkpoint_is_a_value_error_naming_the_file(checkpoint_file, tmp_path):
    damaged = tmp_path / "flipped.ckpt"
    data = bytearray(checkpoint_file.read_bytes())
    for i in range(200, len(data) - 200, 97):  # flip bytes through the members
        data[i] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="flipped.ckpt"):
        _resume_from(damaged)


def test_a_model_file_is_not_a_checkpoint(tmp_path):
    model = tmp_path / "model.npz"
    _clf("numpy", "sgd-momentum", 1).fit(X, Y).save(model)
    with pytest.raises(ValueError, match="model.npz.*xpnet-checkpoint"):
        _resume_from(model)


@pytest.mark.parametrize(
    "changes, named",
    [
        (dict(hidden_layer_sizes=(8,)), "layer sizes"),
        (dict(hidden_layer_sizes=(16, 4)), "layer sizes"),
        (dict(solver="adam"), "solver"),
        (dict(activation="tanh"), "activation"),
        (dict(learning_rate_init=0.5), "learning_rate_init"),
        (dict(momentum=0.5), "momentum"),
        (dict(batch_size=32), "batch_size"),
        (dict(l2=1e-3), "l2"),
        (dict(dtype="float64"), "dtype"),
        (dict(early_stopping=True), "early_stopping"),
        (dict(random_state=8), "random_state"),
    ],
)
def test_resuming_with_other_settings_is_a_value_error(checkpoint_file, changes, named):
    with pytest.raises(ValueError, match=named):
        _resume_from(checkpoint_file, **changes)


def test_resuming_on_other_data_is_a_value_error(checkpoint_file):
    clf = _clf("numpy", "sgd-momentum", 4)
    with pytest.raises(ValueError, match="samples"):
        clf.fit(X[:500], Y[:500], checkpoint=checkpoint_file, resume=True)
    with pytest.raises(ValueError, match="layer sizes"):
        clf.fit(X[:, :32], Y, checkpoint=checkpoint_file, resume=True)
    with pytest.raises(ValueError, match="eval_sets"):
        clf.fit(X, Y, eval_sets=EVAL, checkpoint=checkpoint_file, resume=True)


def test_a_resume_with_the_same_settings_still_works(checkpoint_file, tmp_path):
    """The refusals above are not a checkpoint that can never be resumed."""
    copy = tmp_path / "copy.ckpt"
    copy.write_bytes(checkpoint_file.read_bytes())
    assert _resume_from(copy).n_iter_ == 4


def test_an_interrupted_write_leaves_the_previous_checkpoint_whole(
    checkpoint_file, tmp_path, monkeypatch
):
    """Writes are atomic: a crash half-way through leaves the old file and no debris."""
    path = tmp_path / "run.ckpt"
    path.write_bytes(checkpoint_file.read_bytes())
    before = path.read_bytes()

    def savez_then_crash(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(xio.np, "savez", savez_then_crash)
    with pytest.raises(KeyboardInterrupt):
        xio.write_archive(path, {"format": "x"}, {})
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]


def test_checkpoints_and_models_get_the_usual_file_mode(tmp_path):
    """Not the private 0600 of a temporary file: what open() would create."""
    mask = os.umask(0o022)
    os.umask(mask)
    path = xio.write_archive(tmp_path / "m.npz", {"format": "x"}, {})
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
