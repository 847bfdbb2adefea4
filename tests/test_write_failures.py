"""Checkpoint writes that fail say so; a checkpoint path has one writer.

* a checkpoint path that cannot be a file (empty, a directory, in a missing
  directory or under a file) is refused before the first epoch;
* a full disk (``ENOSPC``) or a read-only file system (``EROFS``), injected
  into the write since root ignores permissions, raises a
  ``CheckpointWriteError`` (an ``OSError``) naming the file, the reason, the
  epoch the checkpoint still holds and how to resume; the partial temporary
  file is removed; the command prints that on one line and exits 74, without
  a traceback, and the command it prints resumes the run;
* the temporary files that interrupted writes left (``.NAME.xxxxxxxx.tmp``)
  are removed by the next fit or resume, and nothing else is;
* a second process writing a checkpoint path that a live run holds is refused
  (``NAME.lock``, naming the holder's pid; the command exits 75); once the
  holder is killed with SIGKILL its lock is taken over;
* ``checkpoint_every`` (a fake clock, so no timing): writes only when due,
  always after the last epoch, and the last finished epoch on Ctrl-C or a
  divergence;
* Ctrl-C in ``xpnet train``: one line, the epoch held and the resume command.
"""

from __future__ import annotations

import errno
import math
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet import cli
from xpnet import io as xio
from xpnet.datasets import load_digits
from xpnet.estimators import base as est_base

X_ALL, Y_ALL = load_digits()
X, Y = (X_ALL[:400] / 16.0).astype(np.float32), Y_ALL[:400]
N_BATCHES = 8  # 400 rows in batches of 50

posix_only = pytest.mark.skipif(sys.platform == "win32", reason="flock and signals are POSIX")


def _clf(max_iter: int = 4, **kw) -> xpnet.MLPClassifier:
    return xpnet.MLPClassifier(
        hidden_layer_sizes=(8,),
        batch_size=50,
        max_iter=max_iter,
        random_state=3,
        backend="numpy",
        **kw,
    )


def _fit(clf, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xpnet.exceptions.ConvergenceWarning)
        return clf.fit(X, Y, **kw)


def _params(clf) -> list[np.ndarray]:
    return [np.asarray(a) for pair in clf.params_ for a in pair]


def _epoch_held(path: Path) -> int:
    meta, _ = xio.read_archive(path, xio.CHECKPOINT_FORMAT)
    return meta["epoch"]


class Batches:
    """An on_batch hook that counts the batches that ran (there must be none on a refusal)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, batch: int, n_batches: int) -> None:
        self.count += 1


def _fail_archive_writes(monkeypatch, code: int, from_call: int, where: str = "savez") -> dict:
    """From the ``from_call``-th archive write on, fail it with ``OSError(code)``.

    ``where="savez"``: half an archive is written to the temporary file, then the
    error (a disk filling up); ``where="replace"``: the rename fails.
    """
    calls = {"n": 0}
    real_savez, real_replace = np.savez, os.replace
    error = OSError(code, os.strerror(code))

    def savez(f, **arrays):
        calls["n"] += 1
        if where == "savez" and calls["n"] >= from_call:
            f.write(b"PK\x03\x04 part of an archive")
            raise error
        return real_savez(f, **arrays)

    def replace(src, dst, *a, **kw):
        if where == "replace" and calls["n"] >= from_call:
            raise error
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(xio.np, "savez", savez)
    monkeypatch.setattr(xio.os, "replace", replace)
    return calls


# ------------------------------------------------------------------ the path, before training


@pytest.mark.parametrize(
    "make, named",
    [
        (lambda d: "", "the path is empty"),
        (lambda d: "   ", "the path is empty"),
        (lambda d: d, "is a directory"),
        (lambda d: str(d) + os.sep + "sub" + os.sep, "names a directory"),
        (lambda d: d / "missing" / "run.ckpt", "does not exist"),
        (lambda d: (d / "file").write_text("x") and d / "file" / "run.ckpt", "is not a directory"),
    ],
    ids=["empty", "blank", "directory", "trailing-separator", "missing-parent", "parent-is-file"],
)
@pytest.mark.parametrize("resume", [False, True])
def test_an_unwritable_checkpoint_path_is_refused_before_the_first_epoch(
    tmp_path, make, named, resume
):
    batches = Batches()
    with pytest.raises(ValueError, match=rf"^checkpoint: .*{named}") as info:
        _fit(_clf(), checkpoint=make(tmp_path), resume=resume, on_batch=batches)
    assert batches.count == 0, "a batch ran before the path was refused"
    assert "give" in str(info.value) or "create it" in str(info.value)  # the fix


def test_a_directory_as_checkpoint_in_the_command_names_the_option(tmp_path, capsys):
    code = cli.main(["train", "--out", str(tmp_path / "out"), "--checkpoint", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == cli.EXIT_USAGE
    assert err.startswith("xpnet: error: --checkpoint (checkpoint): ") and "is a directory" in err
    assert "epoch" not in out, "training started"


def test_a_checkpoint_under_a_file_in_the_command_names_the_option(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    bad = tmp_path / "file" / "run.ckpt"
    code = cli.main(["train", "--out", str(tmp_path / "out"), "--checkpoint", str(bad)])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USAGE
    assert err.startswith(f"xpnet: error: --checkpoint: cannot create the directory {bad.parent}")
    assert len(err.splitlines()) == 1


# ------------------------------------------------------------------ full disk, read-only


@pytest.mark.parametrize(
    "code, remedy",
    [
        (errno.ENOSPC, "free space"),
        (errno.EROFS, "make the file system writable (or choose another path)"),
    ],
    ids=["ENOSPC", "EROFS"],
)
@pytest.mark.parametrize("where", ["savez", "replace"])
def test_a_failed_write_names_the_file_and_how_to_resume(
    tmp_path, monkeypatch, code, remedy, where
):
    path = tmp_path / "run.ckpt"
    _fail_archive_writes(monkeypatch, code, from_call=3, where=where)  # epochs 1, 2 written
    clf = _clf()
    with pytest.raises(xio.CheckpointWriteError) as info:
        _fit(clf, checkpoint=path, checkpoint_every=0)
    e = info.value
    assert isinstance(e, OSError) and e.errno == code and e.filename == str(path)
    assert e.epoch == 2
    assert str(e) == (
        f"cannot write checkpoint {path}: {os.strerror(code)}; it still holds epoch 2: "
        f"{remedy} and resume with fit(..., checkpoint=PATH, resume=True)"
    )
    assert clf.n_iter_ == 3, "the model keeps the epoch it finished"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"], "debris left"
    assert _epoch_held(path) == 2
    monkeypatch.undo()
    resumed = _fit(_clf(), checkpoint=path, resume=True)
    whole = _fit(_clf())
    for got, want in zip(_params(resumed), _params(whole), strict=True):
        assert np.array_equal(got, want)


def test_a_first_write_that_fails_says_nothing_was_saved(tmp_path, monkeypatch):
    path = tmp_path / "run.ckpt"
    _fail_archive_writes(monkeypatch, errno.EROFS, from_call=1, where="replace")
    with pytest.raises(xio.CheckpointWriteError, match="nothing of this run was saved") as info:
        _fit(_clf(), checkpoint=path)
    assert info.value.epoch is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("resume", [False, True])
def test_a_read_only_directory_fails_before_the_first_epoch(tmp_path, monkeypatch, resume):
    """The lock file is the first write: its failure stops the run before any batch."""
    if resume:
        _fit(_clf(2), checkpoint=tmp_path / "run.ckpt")
    real_open = os.open

    def read_only(file, flags, *a, **kw):
        if str(file).endswith(".lock") and flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(file))
        return real_open(file, flags, *a, **kw)

    monkeypatch.setattr(xio.os, "open", read_only)
    batches = Batches()
    with pytest.raises(xio.CheckpointWriteError, match="Read-only file system") as info:
        _fit(_clf(), checkpoint=tmp_path / "run.ckpt", resume=resume, on_batch=batches)
    assert batches.count == 0
    assert info.value.filename == str(tmp_path / "run.ckpt")
    if resume:  # the checkpoint it would have continued is still there to resume
        assert info.value.epoch == 2 and "it still holds epoch 2" in str(info.value)
        assert _epoch_held(tmp_path / "run.ckpt") == 2
    else:
        assert info.value.epoch is None and "nothing of this run was saved" in str(info.value)


def test_write_archive_raises_write_error_and_removes_its_temporary(tmp_path, monkeypatch):
    _fail_archive_writes(monkeypatch, errno.ENOSPC, from_call=1)
    with pytest.raises(xio.WriteError) as info:
        xio.write_archive(tmp_path / "m.npz", {"format": "x"}, {})
    assert str(info.value) == f"cannot write {tmp_path / 'm.npz'}: No space left on device"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "code, remedy",
    [(errno.ENOSPC, "free space"), (errno.EROFS, "make the file system writable")],
    ids=["ENOSPC", "EROFS"],
)
def test_the_command_says_it_on_one_line_and_its_resume_command_works(
    tmp_path, monkeypatch, capsys, code, remedy
):
    out_dir = tmp_path / "out"
    argv = ["train", "--out", str(out_dir), "--epochs", "3", "--checkpoint-every", "0", "--quiet"]
    _fail_archive_writes(monkeypatch, code, from_call=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        status = cli.main(argv)
    _, err = capsys.readouterr()
    ckpt = out_dir / "checkpoint.npz"
    assert status == cli.EXIT_IOERR == 74
    lines = err.splitlines()
    assert len(lines) == 1, err
    head = f"xpnet: error: cannot write checkpoint {ckpt}: {os.strerror(code)}; {remedy}"
    assert lines[0].startswith(head), lines[0]
    resume = lines[0].split("resume with: ", 1)[1]
    assert resume == shlex.join(["xpnet", "train", *argv[1:], "--resume", str(ckpt)])
    assert _epoch_held(ckpt) == 1
    if code != errno.ENOSPC:
        return  # one resume suffices
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(shlex.split(resume)[1:]) == 0
        assert (
            cli.main(["train", "--out", str(tmp_path / "whole"), "--epochs", "3", "--quiet"]) == 0
        )
    capsys.readouterr()
    resumed = xpnet.MLPClassifier.load(out_dir / "model.npz", backend="numpy")
    whole = xpnet.MLPClassifier.load(tmp_path / "whole" / "model.npz", backend="numpy")
    for got, want in zip(_params(resumed), _params(whole), strict=True):
        assert np.array_equal(got, want)


_FULL_DISK = """
import errno, os, sys
import numpy as np
real = np.savez
calls = []
def savez(f, **arrays):
    calls.append(1)
    if len(calls) >= 2:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real(f, **arrays)
np.savez = savez
from xpnet.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_command_on_a_full_disk_prints_no_traceback(tmp_path):
    """The real process: exit status 74, one error line, no traceback (warnings aside)."""
    done = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, "train", "--out", str(tmp_path), "--epochs", "2"]
        + ["--checkpoint-every", "0", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert done.returncode == 74, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("xpnet: ")]
    assert len(errors) == 1 and "No space left on device; free space and resume with: " in errors[0]
    assert done.stderr.strip() == errors[0]


# ------------------------------------------------------------------ stale temporary files


@pytest.mark.parametrize("resume", [False, True])
def test_stale_temporaries_of_the_same_target_are_removed_and_nothing_else(tmp_path, resume):
    path = tmp_path / "run.ckpt"
    if resume:
        _fit(_clf(2), checkpoint=path)
    stale = [".run.ckpt.abc_e9hq.tmp", ".run.ckpt.0123456z.tmp"]
    kept = [
        ".run.ckpt.ABCDEFGH.tmp",  # not mkstemp's alphabet
        ".run.ckpt.abc.tmp",  # too short
        ".run.ckpt.abcdefghi.tmp",  # too long
        ".other.ckpt.abcdefgh.tmp",  # another target's
        "run.ckpt.abcdefgh.tmp",  # no leading dot
        ".run.ckpt.abcdefgh.tmp.keep",
        ".run.ckptx.abcdefgh.tmp",
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"PK\x03\x04 left by a killed write")
    (tmp_path / ".run.ckpt.dirdirdi.tmp").mkdir()  # a directory of that name is not ours
    _fit(_clf(3), checkpoint=path, resume=resume)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([*kept, ".run.ckpt.dirdirdi.tmp", "run.ckpt"])
    assert _epoch_held(path) == 3


def test_remove_stale_temporaries_reports_what_it_removed(tmp_path):
    (tmp_path / ".m.npz.abcdefgh.tmp").write_bytes(b"x")
    (tmp_path / ".m.npz.abcdefgh.tmpx").write_bytes(b"x")
    assert xio.remove_stale_temporaries(tmp_path / "m.npz") == [tmp_path / ".m.npz.abcdefgh.tmp"]
    assert xio.remove_stale_temporaries(tmp_path / "missing-dir" / "m.npz") == []


# ------------------------------------------------------------------ one writer per path

_TRAINER = """
import sys, time
import numpy as np
import xpnet
from xpnet.datasets import load_digits

X, y = load_digits()
clf = xpnet.MLPClassifier(hidden_layer_sizes=(8,), batch_size=50, max_iter=1000,
                          random_state=3, backend="numpy")
def slow(batch, n_batches):
    if batch == 0:
        print("training", flush=True)
    time.sleep(0.05)
clf.fit(X[:400] / 16.0, y[:400], checkpoint=sys.argv[1], on_batch=slow)
"""


@posix_only
def test_a_second_writer_is_refused_and_a_killed_holders_lock_is_taken_over(tmp_path, capsys):
    path = tmp_path / "run.ckpt"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_TRAINER), str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "training", holder.stderr.read()
        lock = tmp_path / "run.ckpt.lock"
        batches = Batches()
        with pytest.raises(xio.CheckpointLockedError) as info:
            _fit(_clf(), checkpoint=path, on_batch=batches)
        message = str(info.value.strerror)
        assert f"{lock} is locked by pid {holder.pid} on " in message, message
        assert "write another checkpoint path" in message
        assert isinstance(info.value, OSError) and batches.count == 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            status = cli.main(
                ["train", "--out", str(tmp_path / "o"), "--checkpoint", str(path), "--quiet"]
            )
        err = capsys.readouterr().err
        assert status == cli.EXIT_LOCKED == 75
        assert err.startswith(f"xpnet: error: --checkpoint: the checkpoint is in use: {lock}")
        assert len(err.splitlines()) == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate()
    assert lock.exists(), "the killed holder's lock file is left behind"
    clf = _fit(_clf(), checkpoint=path, resume=path.exists())
    assert clf.n_iter_ == 4
    assert not lock.exists(), "a finished fit removes its lock file"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".run")) == []


@posix_only
def test_the_lock_is_held_for_the_run_only(tmp_path):
    path = tmp_path / "run.ckpt"
    seen = []

    def look(epoch, row):
        seen.append((path.parent / "run.ckpt.lock").read_text())

    _fit(_clf(2), checkpoint=path, on_epoch=look)
    assert seen and all(text.startswith(f"pid {os.getpid()} on ") for text in seen)
    assert not (tmp_path / "run.ckpt.lock").exists()
    with xio.CheckpointLock(path):  # and it can be taken again at once
        pass


# ------------------------------------------------------------------ checkpoint_every


class FakeClock:
    """Seconds advance by one per minibatch: an epoch of 8 batches takes 8 seconds."""

    def __init__(self, monkeypatch) -> None:
        self.now = 1000.0
        monkeypatch.setattr(est_base, "time", types.SimpleNamespace(monotonic=lambda: self.now))

    def on_batch(self, batch: int, n_batches: int) -> None:
        self.now += 1.0


@pytest.fixture
def writes(monkeypatch) -> list[int]:
    """The epochs of the checkpoints written, in order."""
    epochs: list[int] = []
    real = xio.save_checkpoint

    def save(path, state, meta, classes):
        epochs.append(state.epoch)
        return real(path, state, meta, classes)

    monkeypatch.setattr(xio, "save_checkpoint", save)
    return epochs


@pytest.mark.parametrize(
    "every, expected",
    [
        (0, [1, 2, 3, 4, 5, 6, 7, 8]),
        (8, [1, 2, 3, 4, 5, 6, 7, 8]),  # exactly due at each epoch end
        (20, [3, 6, 8]),  # due at 24 s and 48 s; the last epoch (64 s) always
        (1000, [8]),
    ],
)
def test_checkpoint_every_writes_only_when_due_and_after_the_last_epoch(
    tmp_path, monkeypatch, writes, every, expected
):
    clock = FakeClock(monkeypatch)
    _fit(_clf(8), checkpoint=tmp_path / "run.ckpt", checkpoint_every=every, on_batch=clock.on_batch)
    assert writes == expected
    assert _epoch_held(tmp_path / "run.ckpt") == 8


@pytest.mark.parametrize("at", ["epoch end", "mid-epoch"])
def test_an_interrupt_writes_the_last_finished_epoch(tmp_path, monkeypatch, writes, at):
    clock = FakeClock(monkeypatch)
    path = tmp_path / "run.ckpt"

    def on_batch(batch, n_batches):
        clock.on_batch(batch, n_batches)
        if at == "mid-epoch" and clock.now - 1000 == 4 * N_BATCHES + 3:  # 3 batches into epoch 5
            raise KeyboardInterrupt

    def on_epoch(epoch, row):
        if at == "epoch end" and epoch == 5:
            raise KeyboardInterrupt

    clf = _clf(8)
    clf._interrupt_notice = False
    with pytest.raises(KeyboardInterrupt):
        _fit(clf, checkpoint=path, checkpoint_every=20, on_batch=on_batch, on_epoch=on_epoch)
    last = 5 if at == "epoch end" else 4
    assert writes == [3, last]
    assert _epoch_held(path) == last
    monkeypatch.undo()
    resumed = _fit(_clf(8), checkpoint=path, resume=True)
    whole = _fit(_clf(8))
    for got, want in zip(_params(resumed), _params(whole), strict=True):
        assert np.array_equal(got, want)


def test_a_divergence_writes_the_last_good_epoch(tmp_path, monkeypatch, writes):
    """The loss of epoch 5 is made non-finite: the run's real divergence path follows."""
    clock = FakeClock(monkeypatch)
    fake_math = types.SimpleNamespace(**{k: getattr(math, k) for k in dir(math) if k[0] != "_"})
    fake_math.isfinite = lambda v: clock.now - 1000 <= 4 * N_BATCHES and math.isfinite(v)
    monkeypatch.setattr(xpnet.train, "math", fake_math)
    with pytest.raises(xpnet.DivergenceError, match="epoch 5"):
        _fit(
            _clf(8), checkpoint=tmp_path / "run.ckpt", checkpoint_every=20, on_batch=clock.on_batch
        )
    assert writes == [3, 4]
    assert _epoch_held(tmp_path / "run.ckpt") == 4


def test_checkpoint_every_must_be_seconds():
    for bad in (-1, float("nan"), "10"):
        with pytest.raises(ValueError, match="checkpoint_every: expected a number of seconds"):
            _fit(_clf(), checkpoint_every=bad)


# ------------------------------------------------------------------ Ctrl-C in the command

_INTERRUPTIBLE = """
import sys, time
from xpnet import cli
import xpnet.estimators.base as base
real_fit = base.BaseMLP.fit
def slow_fit(self, *a, on_batch=None, **kw):
    def slow(batch, n):
        time.sleep(0.02)
        on_batch(batch, n)
    return real_fit(self, *a, on_batch=slow, **kw)
base.BaseMLP.fit = slow_fit
sys.exit(cli.main(sys.argv[1:]))
"""


@posix_only
def test_ctrl_c_in_the_command_says_once_how_to_resume(tmp_path):
    ckpt = tmp_path / "checkpoint.npz"
    args = ["train", "--out", str(tmp_path), "--epochs", "100", "--checkpoint-every", "0"]
    proc = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPTIBLE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    try:
        deadline = time.monotonic() + 60
        while not ckpt.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == cli.EXIT_INTERRUPTED == 130, err
    assert "Traceback" not in err
    held = _epoch_held(ckpt)
    assert 1 <= held < 100
    lines = [line for line in err.splitlines() if line.strip()]
    resume = shlex.join(["xpnet", "train", *args[1:], "--resume", str(ckpt)])
    assert lines == [
        f"xpnet: interrupted after epoch {held}; the checkpoint at {ckpt} resumes it: {resume}"
    ], err
