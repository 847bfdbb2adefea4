"""The ``xpnet train`` polish: plain progress off a terminal, the stopping options,
``--no-checkpoint``, and errors worded as the command's options."""

from __future__ import annotations

import contextlib
import csv
import io
import subprocess
import sys

import pytest

from xpnet import cli
from xpnet import io as xio
from xpnet.estimators import MLPClassifier

COMMON = ["--data", "moons", "--hidden", "5", "--backend", "numpy"]


def run(tmp_path, *argv: str) -> tuple[int, str, str]:
    """``xpnet train ARGV --out TMP/out`` in-process; stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(["train", *argv, "--out", str(tmp_path / "out")])
    return code, out.getvalue(), err.getvalue()


def epochs_in_history(path) -> list[int]:
    with open(path, newline="") as f:
        return [int(float(row["epoch"])) for row in csv.DictReader(f)]


def test_a_redirected_run_writes_one_plain_line_per_epoch_and_no_carriage_returns(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "xpnet", "train", *COMMON, "--epochs", "4"]
        + ["--out", str(tmp_path / "out")],
        capture_output=True,  # pipes: stderr is not a terminal
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and "\r" not in done.stdout
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1/4", "2/4", "3/4", "4/4"]
    assert all("loss" in line for line in epoch_lines)


def test_patience_and_tol_reach_the_estimator(tmp_path):
    # no improvement can exceed tol = 1e9: epoch 1 sets the best, and, as in scikit-learn,
    # the run stops once the count of epochs without improvement exceeds the patience (2),
    # i.e. after epoch 1 + 3
    code, _, err = run(tmp_path, *COMMON, "--epochs", "50", "--patience", "2", "--tol", "1e9")
    assert code == 0, err
    assert epochs_in_history(tmp_path / "out" / "history.csv") == [1, 2, 3, 4]


def test_validation_fraction_reaches_the_estimator(tmp_path):
    code, _, err = run(
        tmp_path, *COMMON, "--epochs", "2", "--early-stopping", "--validation-fraction", "0.5"
    )
    assert code == 0, err
    assert MLPClassifier.load(tmp_path / "out" / "model.npz").validation_fraction == 0.5


def test_no_checkpoint_writes_none_and_refuses_resume(tmp_path):
    code, _, err = run(tmp_path, *COMMON, "--epochs", "2", "--no-checkpoint", "--quiet")
    assert code == 0, err
    assert (tmp_path / "out" / "model.npz").exists()
    assert not (tmp_path / "out" / "checkpoint.npz").exists()
    code, _, err = run(tmp_path, *COMMON, "--no-checkpoint", "--resume", str(tmp_path / "c.npz"))
    assert code == 2
    assert "--no-checkpoint" in err and "--resume" in err


@pytest.mark.parametrize(
    "argv, option",
    [
        (["--lr", "-1"], "--lr"),
        (["--tol", "-1"], "--tol"),
        (["--early-stopping", "--validation-fraction", "1.5"], "--validation-fraction"),
    ],
)
def test_estimator_errors_name_the_command_options(tmp_path, argv, option):
    code, _, err = run(tmp_path, *COMMON, "--epochs", "1", "--quiet", *argv)
    assert code == 2
    assert err.startswith(f"xpnet: error: {option} ") and "Traceback" not in err


def test_resume_with_another_architecture_speaks_of_the_options(tmp_path):
    code, _, err = run(tmp_path, *COMMON, "--epochs", "1", "--quiet")
    assert code == 0, err
    checkpoint = tmp_path / "out" / "checkpoint.npz"
    meta, _ = xio.read_archive(checkpoint, xio.CHECKPOINT_FORMAT)
    assert meta["epoch"] == 1
    other = ["--data", "moons", "--hidden", "7", "--backend", "numpy", "--epochs", "2"]
    code, _, err = run(tmp_path, *other, "--quiet", "--resume", str(checkpoint))
    assert code == 2
    assert "--hidden" in err and "--resume" in err
    assert "resume=" not in err and "hidden_layer_sizes" not in err


def test_a_backend_from_the_environment_is_named_as_such(tmp_path, monkeypatch):
    monkeypatch.setenv("XPNET_BACKEND", "nonsense")
    code, _, err = run(tmp_path, "--data", "moons", "--epochs", "1", "--quiet")
    assert code == 2
    assert err.startswith("xpnet: error: XPNET_BACKEND=nonsense: ")
    assert "--backend" not in err
