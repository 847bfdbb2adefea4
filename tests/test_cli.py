"""The ``xpnet`` command line: train, predict, check, info, bench, exit codes and messages.

Most tests call ``xpnet.cli.main(argv)`` in-process and read what it wrote;
one runs ``python -m xpnet`` as a real subprocess. Each compares with a
reference computed independently (a direct ``MLPClassifier`` fit, the
in-memory model's predictions, NumPy arithmetic).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_png, hide_matplotlib

import xpnet
from xpnet import cli, datasets, functional
from xpnet import io as xio
from xpnet.estimator import MLPClassifier


def run(argv: list[str]) -> tuple[int, str, str]:
    """``cli.main(argv)`` with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def read_history_csv(path: Path) -> tuple[list[str], list[dict[str, float]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = [{k: float(v) for k, v in row.items()} for row in reader]
        return list(reader.fieldnames or []), rows


def digits_split():
    """The digits train/test split ``xpnet train`` documents: stratified 20 %, seed 0, pixels / 16."""
    X, y = datasets.load_digits()
    return datasets.train_test_split(X / 16.0, y, 0.2, 0, stratify=True)


DIGITS_EPOCHS = 8


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One ``xpnet train`` on the default data (the digits), shared by the tests below."""
    out = tmp_path_factory.mktemp("digits") / "run"
    code, stdout, stderr = run(
        ["train", "--out", str(out), "--epochs", str(DIGITS_EPOCHS), "--backend", "numpy"]
    )
    return {"code": code, "out": out, "stdout": stdout, "stderr": stderr}


# ---------------------------------------------------------------------- train


def test_train_on_default_data_writes_a_model_that_classifies_the_digits(digits_run):
    assert digits_run["code"] == 0, digits_run["stderr"]
    model = MLPClassifier.load(digits_run["out"] / "model.npz", backend="numpy")
    _, X_test, _, y_test = digits_split()
    # the model file divides by 16 itself: it takes raw pixels
    assert model.standardizer_.scale_.tolist() == [16.0] * 64
    accuracy = float(np.mean(np.asarray(model.predict(16.0 * X_test)) == y_test))
    assert accuracy > 0.8
    # the printed test error is that model's error on that split
    last = [line for line in digits_run["stdout"].splitlines() if line.startswith("error:")][-1]
    printed = float(last.split("test")[-1].strip().rstrip("%"))
    assert printed == pytest.approx(100 * (1 - accuracy), abs=0.006)


def test_train_prints_the_backend_first_and_a_final_error_summary(digits_run):
    lines = digits_run["stdout"].splitlines()
    assert lines[0].startswith(f"xpnet {xpnet.__version__}: backend numpy on cpu")
    summary = [line for line in lines if line.startswith("error:")]
    assert len(summary) == 1
    assert "train" in summary[0] and "validation" in summary[0] and "test" in summary[0]


def test_history_csv_has_one_row_per_epoch_equal_to_the_run_history(digits_run):
    header, rows = read_history_csv(digits_run["out"] / "history.csv")
    assert header == [
        "epoch",
        "train_loss",
        "train_error",
        "test_loss",
        "test_error",
        "learning_rate",
        "seconds",
    ]
    assert [row["epoch"] for row in rows] == list(range(1, DIGITS_EPOCHS + 1))
    # the run's own history_, as its last checkpoint recorded it: equal to the last bit
    meta, _ = xio.read_archive(digits_run["out"] / "checkpoint.npz", xio.CHECKPOINT_FORMAT)
    for key in header:
        assert [row[key] for row in rows] == meta["history"][key], key


def test_history_csv_matches_a_direct_fit_with_the_same_settings(digits_run):
    X_train, X_test, y_train, y_test = digits_split()
    clf = MLPClassifier(max_iter=DIGITS_EPOCHS, random_state=0, backend="numpy")
    clf.fit(X_train, y_train, eval_sets={"test": (X_test, y_test)})
    _, rows = read_history_csv(digits_run["out"] / "history.csv")
    for key in ("train_loss", "train_error", "test_loss", "test_error", "learning_rate"):
        np.testing.assert_allclose([row[key] for row in rows], clf.history_[key], rtol=1e-6)


def test_train_writes_valid_learning_curves_png(digits_run):
    pytest.importorskip("matplotlib")
    assert_png(digits_run["out"] / "curves.png")
    assert not (digits_run["out"] / "regions.png").exists()  # 64 features: no regions


def test_train_on_2d_data_also_writes_decision_regions(tmp_path):
    pytest.importorskip("matplotlib")
    code, _, err = run(
        ["train", "--data", "moons", "--hidden", "10", "--epochs", "5", "--out", str(tmp_path)]
        + ["--backend", "numpy", "--quiet"]
    )
    assert code == 0, err
    assert_png(tmp_path / "curves.png")
    assert_png(tmp_path / "regions.png")
    model = MLPClassifier.load(tmp_path / "model.npz", backend="numpy")
    assert model.hidden_layer_sizes == (10,)


def test_train_reads_npz_and_csv_files_and_standardises_them(tmp_path):
    X, y = datasets.make_moons(60, 0.1, seed=1)
    X = 100.0 * X + 5.0  # standardisation must undo this
    np.savez(tmp_path / "data.npz", X=X, y=y)
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "klass", "b"])
        writer.writerows([[a, label, b] for (a, b), label in zip(X.tolist(), y, strict=True)])
    for spec, extra in (("data.npz", []), ("data.csv", ["--label", "klass"])):
        out = tmp_path / spec.replace(".", "_")
        argv = ["train", "--data", str(tmp_path / spec), "--epochs", "2", "--out", str(out)]
        code, stdout, err = run(argv + extra + ["--backend", "numpy"])
        assert code == 0, err
        assert "48 training and 12 test samples, 2 features, 2 classes" in stdout
        assert "standardised" in stdout
        assert (out / "model.npz").is_file()


def test_train_without_tqdm_prints_one_line_per_epoch(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    code, stdout, err = run(
        ["train", "--data", "moons", "--hidden", "5", "--epochs", "3", "--out", str(tmp_path)]
        + ["--backend", "numpy"]
    )
    assert code == 0, err
    epoch_lines = [line for line in stdout.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert all("loss" in line and "test err" in line for line in epoch_lines)


class _Terminal(io.StringIO):
    """A captured stream that says it is a terminal (tqdm's bar is for terminals only)."""

    def isatty(self) -> bool:
        return True


def test_train_with_tqdm_shows_a_progress_bar_with_loss_and_accuracy(tmp_path):
    pytest.importorskip("tqdm")
    out, terminal = io.StringIO(), _Terminal()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(terminal):
        code = cli.main(
            ["train", "--data", "moons", "--hidden", "5", "--epochs", "3", "--out", str(tmp_path)]
            + ["--backend", "numpy"]
        )
    stdout, err = out.getvalue(), terminal.getvalue()
    assert code == 0, err
    assert "loss=" in err and "acc=" in err and "test_acc=" in err
    assert not any(line.startswith("epoch 1/3  loss") for line in stdout.splitlines())


def test_train_without_matplotlib_writes_model_and_history_and_one_hint(tmp_path, monkeypatch):
    hide_matplotlib(monkeypatch)
    code, stdout, err = run(
        ["train", "--data", "moons", "--hidden", "5", "--epochs", "2", "--out", str(tmp_path)]
        + ["--backend", "numpy", "--quiet"]
    )
    assert code == 0, err
    assert (tmp_path / "model.npz").is_file() and (tmp_path / "history.csv").is_file()
    assert not list(tmp_path.glob("*.png"))
    hints = [line for line in (stdout + err).splitlines() if "pip install matplotlib" in line]
    assert len(hints) == 1


def test_python_dash_m_xpnet_trains_in_a_subprocess(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "xpnet", "train", "--epochs", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"xpnet {xpnet.__version__}: backend ")
    _, rows = read_history_csv(out / "history.csv")
    assert len(rows) == 3
    assert MLPClassifier.load(out / "model.npz", backend="numpy").n_features_in_ == 64


def test_no_arguments_means_train_with_the_defaults(monkeypatch):
    seen = {}

    def fake_train(args):
        seen["args"] = args
        return 0

    monkeypatch.setattr(cli, "_train", fake_train)
    code, stdout, _ = run([])
    assert code == 0
    args = seen["args"]
    assert (args.command, args.data, args.epochs, args.out) == ("train", "digits", 200, "xpnet-run")
    assert (args.hidden, args.backend, args.seed, args.test_size) == ([100], "auto", 0, 0.2)
    assert "running `xpnet train`" in stdout


# ---------------------------------------------------------------------- Ctrl-C and resume


def test_ctrl_c_keeps_the_checkpoint_and_resume_continues_the_same_run(tmp_path, monkeypatch):
    common = ["--data", "moons", "--hidden", "6", "--backend", "numpy", "--quiet"]
    # the reference: four epochs without interruption
    code, _, err = run(["train", *common, "--epochs", "4", "--out", str(tmp_path / "ref")])
    assert code == 0, err
    _, reference = read_history_csv(tmp_path / "ref" / "history.csv")

    original = MLPClassifier._write_checkpoint

    def write_then_interrupt(self, path, state, *more):
        original(self, path, state, *more)
        if state.epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(MLPClassifier, "_write_checkpoint", write_then_interrupt)
    out = tmp_path / "run"
    code, _, err = run(
        ["train", *common, "--epochs", "4", "--out", str(out), "--checkpoint-every", "0"]
    )
    assert code == 130
    assert "Traceback" not in err
    checkpoint = out / "checkpoint.npz"
    assert f"--resume {checkpoint}" in err
    meta, _ = xio.read_archive(checkpoint, xio.CHECKPOINT_FORMAT)
    assert meta["epoch"] == 2
    assert not (out / "model.npz").exists()

    monkeypatch.setattr(MLPClassifier, "_write_checkpoint", original)
    code, _, err = run(
        ["train", *common, "--epochs", "4", "--out", str(out), "--resume", str(checkpoint)]
    )
    assert code == 0, err
    _, resumed = read_history_csv(out / "history.csv")
    assert [row["epoch"] for row in resumed] == [1, 2, 3, 4]
    for key in ("train_loss", "train_error", "test_loss", "test_error"):
        assert [row[key] for row in resumed] == [row[key] for row in reference], key


def test_ctrl_c_before_the_first_epoch_says_nothing_was_saved(tmp_path, monkeypatch):
    def interrupt(batch, n_batches):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli._Progress, "on_batch", lambda self, b, n: interrupt(b, n))
    code, _, err = run(
        ["train", "--data", "moons", "--epochs", "3", "--out", str(tmp_path), "--quiet"]
        + ["--backend", "numpy"]
    )
    assert code == 130
    assert "nothing saved" in err and "Traceback" not in err


def test_resume_from_a_missing_checkpoint_is_a_usage_error(tmp_path):
    code, _, err = run(["train", "--resume", str(tmp_path / "nope.npz"), "--out", str(tmp_path)])
    assert code == 2
    assert err.startswith("xpnet: error: --resume")


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, option",
    [
        (["train", "--data", "{tmp}/missing.npz"], "--data"),
        (["train", "--data", "nonsense"], "--data"),
        (["train", "--backend", "no-such-backend"], "--backend"),
        (["train", "--activation", "no-such-activation"], "--activation"),
        (["train", "--hidden", "0"], "--hidden"),
        (["train", "--momentum", "1.5"], "--momentum"),
        (["train", "--l2", "0.1", "0.2", "0.3"], "--l2"),
        (["predict", "--model", "{tmp}/missing.npz", "--data", "{tmp}/x.csv"], "--model"),
        (["check", "--backends", "no-such-backend"], "--backends"),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_the_argument(tmp_path, argv, option):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] == "train":
        argv += ["--out", str(tmp_path / "out"), "--epochs", "1", "--quiet"]
    code, stdout, err = run(argv)
    assert code == 2
    assert "error" in err and option in err
    assert "Traceback" not in err + stdout
    assert not (tmp_path / "out" / "model.npz").exists()


def test_divergence_exits_3_with_a_message(tmp_path):
    code, _, err = run(
        ["train", "--data", "moons", "--solver", "sgd", "--lr", "1e9", "--epochs", "3"]
        + ["--batch-size", "128", "--alpha", "0"]
        + ["--out", str(tmp_path)]
        + ["--backend", "numpy", "--quiet"]
    )
    assert code == 3
    assert err.startswith("xpnet: error: training diverged")
    assert "--lr" in err and "Traceback" not in err


def test_help_and_version_exit_0(capsys):
    assert cli.main(["--version"]) == 0
    assert xpnet.__version__ in capsys.readouterr().out
    for command in ("train", "predict", "check", "info"):
        assert cli.main([command, "--help"]) == 0
    help_text = capsys.readouterr().out
    assert "/ 16" in help_text or "by 16" in help_text
    assert "255" in help_text and "standardised" in help_text


# ---------------------------------------------------------------------- predict


@pytest.fixture
def moons_model(tmp_path):
    X, y = datasets.make_moons(80, 0.15, seed=3)
    clf = MLPClassifier((8,), max_iter=30, random_state=0, backend="numpy").fit(X, y)
    path = clf.save(tmp_path / "model.npz")
    return clf, path, X, y


def test_predict_writes_one_prediction_per_row_matching_the_model(tmp_path, moons_model, capsys):
    clf, model_path, X, y = moons_model
    data = tmp_path / "points.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x1", "x2", "label"])
        writer.writerows([[a, b, int(t)] for (a, b), t in zip(X.tolist(), y, strict=True)])
    expected = np.asarray(clf.predict(X))

    # stdout: one line per row
    code = cli.main(
        ["predict", "--model", str(model_path), "--data", str(data), "--backend", "numpy"]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [int(line) for line in captured.out.splitlines()] == expected.tolist()
    assert f"accuracy {np.mean(expected == y):.4f} on {len(y)} labelled rows" in captured.err

    # files: .csv with a header, .npy, .txt
    for name in ("pred.csv", "pred.npy", "pred.txt"):
        out = tmp_path / name
        argv = ["predict", "--model", str(model_path), "--data", str(data), "--output", str(out)]
        assert cli.main(argv) == 0
        if name.endswith(".npy"):
            got = np.load(out).tolist()
        else:
            lines = out.read_text().splitlines()
            if name.endswith(".csv"):
                assert lines.pop(0) == "prediction"
            got = [int(line) for line in lines]
        assert got == expected.tolist(), name


def test_predict_reads_features_without_labels_and_writes_probabilities(tmp_path, moons_model):
    clf, model_path, X, _ = moons_model
    np.savez(tmp_path / "features.npz", X=X)  # no y
    out = tmp_path / "proba.npy"
    argv = ["predict", "--model", str(model_path), "--data", str(tmp_path / "features.npz")]
    code, _, err = run(argv + ["--proba", "--output", str(out)])
    assert code == 0, err
    proba = np.load(out)
    np.testing.assert_allclose(proba, np.asarray(clf.predict_proba(X)), rtol=1e-6)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert "accuracy" not in err


def test_predict_with_the_wrong_number_of_features_is_a_usage_error(tmp_path, moons_model):
    _, model_path, X, _ = moons_model
    np.savez(tmp_path / "three.npz", X=np.hstack([X, X[:, :1]]))
    code, _, err = run(
        ["predict", "--model", str(model_path), "--data", str(tmp_path / "three.npz")]
    )
    assert code == 2
    assert "--data" in err and "3 features" in err and "expecting 2" in err


# ---------------------------------------------------------------------- check, info, bench


def test_check_prints_an_agreement_table_and_exits_0():
    code, stdout, err = run(["check", "--backends", "numpy", "array_api_strict", "cupy:99"])
    assert code == 0, stdout + err
    lines = stdout.splitlines()
    assert lines[0].split()[:4] == ["backend", "device", "dtype", "check"]
    rows = [line.split() for line in lines[2:] if line.startswith(("numpy", "array_api_strict"))]
    n_backends = 2 if xpnet.available_backends()["array_api_strict"] is True else 1
    activations = list(functional.ACTIVATIONS)
    assert len(rows) == n_backends * 3 * len(activations)  # gradcheck, agree f64, agree f32
    assert all(row[-1] == "yes" for row in rows)
    for act in activations:
        assert any(row[3:5] == ["gradcheck", act] for row in rows)
        assert any(row[2:5] == ["float32", "agree", act] for row in rows)
    assert any(line.startswith("skipped cupy:99: ") for line in lines)


def test_check_exits_nonzero_when_a_gradient_is_wrong(monkeypatch):
    right = functional.ACTIVATIONS["tanh"]

    def wrong_derivative(h_a, h_s, xp):
        return 1.01 * right.derivative(h_a, h_s, xp)  # 1 % off

    monkeypatch.setitem(functional.ACTIVATIONS, "tanh", right._replace(derivative=wrong_derivative))
    code, stdout, _ = run(["check", "--backends", "numpy"])
    assert code != 0
    verdicts = {
        tuple(row.split()[3:5]): row.split()[-1]
        for row in stdout.splitlines()[2:]
        if row.startswith("numpy")
    }
    assert verdicts[("gradcheck", "tanh")] == "NO"
    assert verdicts[("gradcheck", "relu")] == "yes"
    assert "DISAGREE" in stdout


def test_check_exits_nonzero_when_a_backend_disagrees_with_numpy(monkeypatch):
    pytest.importorskip("array_api_strict")
    right = functional.ACTIVATIONS["sigmoid"]

    def off_on_strict(x, xp=None):
        y = right.fn(x, xp)
        return y * 1.001 if "strict" in type(y).__module__ else y

    monkeypatch.setitem(functional.ACTIVATIONS, "sigmoid", right._replace(fn=off_on_strict))
    code, stdout, _ = run(["check", "--backends", "numpy", "array_api_strict"])
    assert code != 0
    bad = [row.split() for row in stdout.splitlines() if row.split()[-1:] == ["NO"]]
    assert bad and all(row[0] == "array_api_strict" and row[-4] == "sigmoid" for row in bad)


def test_info_lists_versions_and_every_backend():
    code, stdout, _ = run(["info"])
    assert code == 0
    assert f"xpnet       {xpnet.__version__}" in stdout
    assert f"NumPy       {np.__version__}" in stdout and "BLAS" in stdout
    for name, status in xpnet.available_backends().items():
        line = next(line for line in stdout.splitlines() if line.strip().startswith(name + " "))
        assert ("available:" in line) if status is True else ("unavailable:" in line)


def test_bench_forwards_its_arguments_to_xpnet_bench(monkeypatch):
    seen = []
    fake = types.ModuleType("xpnet.bench")
    fake.main = lambda argv: seen.append(argv) or 7
    monkeypatch.setitem(sys.modules, "xpnet.bench", fake)
    assert cli.main(["bench", "--epochs", "2", "--help"]) == 7
    assert seen == [["--epochs", "2", "--help"]]


def test_bench_without_the_bench_module_says_so(monkeypatch):
    monkeypatch.setitem(sys.modules, "xpnet.bench", None)  # importing it now fails
    code, _, err = run(["bench"])
    assert code == 2
    assert "xpnet.bench" in err and "Traceback" not in err


def test_info_reports_gpu_memory_from_the_backend():
    class FakeGpu:
        is_gpu, library = True, "cupy"

        def free_memory(self):
            return 3 * 2**30

    class FakeCpu(FakeGpu):
        is_gpu, library = False, "numpy"

    assert cli._gpu_memory(FakeGpu()) == ", 3.0 GiB free"
    assert cli._gpu_memory(FakeCpu()) == ""


def test_predict_applies_the_scaling_that_train_used(tmp_path, capsys):
    """Train on a CSV (standardised on the training split), then predict raw rows: the
    model file carries the training split's mean and standard deviation (NumPy float64
    reference), and its predictions equal the network's on rows standardised by hand."""
    X, y = datasets.make_moons(120, 0.1, seed=1)
    X = X * [50.0, 0.01] + [1000.0, -3.0]  # far from standardised
    data = tmp_path / "raw.csv"
    with open(data, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "label"])
        writer.writerows([[p, q, int(t)] for (p, q), t in zip(X.tolist(), y, strict=True)])
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--hidden", "8", "--epochs", "20", "--out", str(out)]
    assert cli.main(argv + ["--backend", "numpy", "--quiet"]) == 0
    assert not (out / "scaling.npz").exists()  # the model file carries it
    X_train, _, _, _ = datasets.train_test_split(X, y, 0.2, 0, stratify=True)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    clf = MLPClassifier.load(out / "model.npz", backend="numpy")
    np.testing.assert_allclose(clf.standardizer_.mean_, mean, rtol=1e-14)
    np.testing.assert_allclose(clf.standardizer_.scale_, std, rtol=1e-12)
    assert clf.feature_names_in_.tolist() == ["a", "b"]
    raw = MLPClassifier.load(out / "model.npz", backend="numpy")
    raw.standardizer_ = None  # the bare network, fed by hand
    expected = np.asarray(raw.predict((X - mean) / std))
    capsys.readouterr()
    code = cli.main(["predict", "--model", str(out / "model.npz"), "--data", str(data)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert [int(v) for v in captured.out.splitlines()] == expected.tolist()
    # the model standardises its input itself: --no-scaling and --scaling are refused
    for extra, option in (
        (["--no-scaling"], "--no-scaling"),
        (["--scaling", "s.npz"], "--scaling"),
    ):
        code = cli.main(["predict", "--model", str(out / "model.npz"), "--data", str(data), *extra])
        assert code == 2 and option in capsys.readouterr().err


def test_train_task_regression_on_a_csv_then_predict(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 2))
    target = 2.0 * X[:, 0] - X[:, 1] + 0.5
    csv_path = tmp_path / "reg.csv"
    rows = ["a,b,label"] + [f"{a},{b},{t}" for (a, b), t in zip(X, target, strict=True)]
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    code, stdout, err = run(
        ["train", "--data", str(csv_path), "--task", "regression", "--hidden", "8"]
        + ["--lr", "0.01", "--epochs", "300", "--backend", "numpy", "--out", str(out)]
    )
    assert code == 0, err
    assert "R^2: train" in stdout and "numeric targets" in stdout
    model = xpnet.MLPRegressor.load(out / "model.npz", backend="numpy")
    assert model.n_outputs_ == 1 and model.out_activation_ == "identity"
    code, stdout, err = run(["predict", "--model", str(out / "model.npz"), "--data", str(csv_path)])
    assert code == 0, err
    assert "R^2" in err
    predictions = np.array([float(v) for v in stdout.split()])
    assert 1 - np.sum((predictions - target) ** 2) / np.sum((target - target.mean()) ** 2) > 0.9


def test_a_regression_without_task_is_not_guessed(tmp_path):
    csv_path = tmp_path / "reg.csv"
    csv_path.write_text("a,label\n1,0.5\n2,1.5\n3,2.5\n4,0.25\n5,1.0\n", encoding="utf-8")
    code, _, err = run(["train", "--data", str(csv_path), "--out", str(tmp_path / "o")])
    assert code == 2 and "--data" in err and "integer" in err


# ---------------------------------------------------------------------- a model file that carries its pipeline


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    """``xpnet train`` on a CSV with three features far from standardised and the
    labels in a column named 'klass'."""
    root = tmp_path_factory.mktemp("csvrun")
    X, y = datasets.make_moons(150, 0.1, seed=4)
    noise = np.random.default_rng(4).normal(size=(150, 1))
    X = np.hstack([X, noise]) * [40.0, 0.02, 3.0] + [500.0, -7.0, 1.0]
    rows = [[a, b, c, int(t)] for (a, b, c), t in zip(X.tolist(), y, strict=True)]
    data = _write_csv(root / "train.csv", ["a", "b", "c", "klass"], rows)
    out = root / "run"
    argv = ["train", "--data", str(data), "--label", "klass", "--hidden", "8", "--epochs", "30"]
    code, _, err = run(argv + ["--out", str(out), "--backend", "numpy", "--quiet"])
    assert code == 0, err
    return {"root": root, "X": X, "y": y, "data": data, "out": out}


def _predict(model, data, *extra):
    code, stdout, err = run(["predict", "--model", str(model), "--data", str(data), *extra])
    return code, stdout, err


def test_a_model_file_copied_alone_predicts_as_in_its_run_directory(csv_run, tmp_path):
    """With or without the label column: the same predictions, equal to the model's
    on the raw rows; the copied file needs nothing beside it."""
    X, y = csv_run["X"], csv_run["y"]
    assert sorted(p.name for p in csv_run["out"].iterdir()) == [
        "checkpoint.npz",
        "curves.png",
        "history.csv",
        "model.npz",
    ]
    model = MLPClassifier.load(csv_run["out"] / "model.npz", backend="numpy")
    assert model.feature_names_in_.tolist() == ["a", "b", "c"]
    expected = np.asarray(model.predict(X)).tolist()
    code, at_home, err = _predict(csv_run["out"] / "model.npz", csv_run["data"])
    assert code == 0, err
    assert [int(v) for v in at_home.split()] == expected
    assert f"accuracy {np.mean(np.array(expected) == y):.4f}" in err  # 'klass' read as labels
    alone = tmp_path / "elsewhere" / "model.npz"
    alone.parent.mkdir()
    alone.write_bytes((csv_run["out"] / "model.npz").read_bytes())
    code, copied, err = _predict(alone, csv_run["data"])
    assert code == 0, err
    assert copied == at_home and "warning" not in err
    unlabelled = _write_csv(tmp_path / "new.csv", ["a", "b", "c"], X.tolist())
    code, copied, err = _predict(alone, unlabelled)
    assert code == 0, err
    assert copied == at_home and "accuracy" not in err


def test_reordered_columns_are_matched_by_name(csv_run, tmp_path):
    X, y = csv_run["X"], csv_run["y"]
    code, expected, err = _predict(csv_run["out"] / "model.npz", csv_run["data"])
    assert code == 0, err
    rows = [[int(t), c, a, b] for (a, b, c), t in zip(X.tolist(), y, strict=True)]
    shuffled = _write_csv(tmp_path / "shuffled.csv", ["klass", "c", "a", "b"], rows)
    code, got, err = _predict(csv_run["out"] / "model.npz", shuffled)
    assert code == 0, err
    assert got == expected


@pytest.mark.parametrize(
    "header, named",
    [
        (["a", "b"], "missing ['c']"),
        (["a", "b", "c", "d"], "extra ['d']"),
        (["a", "b", "target"], "missing ['c']; extra ['target']"),
        (["a", "b", "b"], "repeated ['b']"),
    ],
    ids=["missing", "extra", "renamed", "repeated"],
)
def test_missing_or_extra_columns_exit_2_naming_them(csv_run, tmp_path, header, named):
    data = _write_csv(tmp_path / "bad.csv", header, [[1.0] * len(header)] * 3)
    code, stdout, err = _predict(csv_run["out"] / "model.npz", data)
    assert code == 2 and stdout == ""
    assert "--data" in err and named in err and "['a', 'b', 'c']" in err and "--label" in err
    assert "Traceback" not in err


def test_proba_to_stdout_has_a_header_with_the_class_names(csv_run):
    code, stdout, err = _predict(csv_run["out"] / "model.npz", csv_run["data"], "--proba")
    assert code == 0, err
    lines = stdout.splitlines()
    assert lines[0] == "p_0,p_1"
    proba = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    model = MLPClassifier.load(csv_run["out"] / "model.npz", backend="numpy")
    expected = model.predict_proba(csv_run["X"])
    np.testing.assert_array_equal(proba.astype(expected.dtype), expected)  # read back exactly
    cells = [cell for line in lines[1:] for cell in line.split(",")]
    # each cell is NumPy's shortest text of the value in the model's dtype (no float64 noise)
    assert all(c == str(expected.dtype.type(c)) for c in cells)


def test_a_count_mismatch_on_a_model_without_names_mentions_label(tmp_path, monkeypatch):
    hide_matplotlib(monkeypatch)  # no pictures needed here
    X, y = datasets.make_moons(60, 0.1, seed=0)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    out = tmp_path / "run"
    code, _, err = run(
        ["train", "--data", str(tmp_path / "d.npz"), "--epochs", "2", "--out", str(out)]
    )
    assert code == 0, err
    data = _write_csv(tmp_path / "l.csv", ["x1", "x2", "species"], [[0.1, 0.2, 1]] * 3)
    code, _, err = _predict(out / "model.npz", data)
    assert code == 2
    assert "3 features" in err and "expecting 2" in err and "--label COL" in err
    code, stdout, err = _predict(out / "model.npz", data, "--label", "species")
    assert code == 0 and len(stdout.split()) == 3


def _version_1_model(path):
    """A model file of format version 1, by its documented layout (no standardisation)."""
    rng = np.random.default_rng(9)
    W0, b0 = rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=5).astype(np.float32)
    W1, b1 = rng.normal(size=(2, 5)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    meta = {
        "format": xio.MODEL_FORMAT,
        "format_version": 1,
        "estimator": "MLPClassifier",
        "activation": "tanh",
        "dtype": "float32",
        "layer_sizes": [2, 5, 2],
        "hyperparams": {"hidden_layer_sizes": [5], "backend": "numpy"},
    }
    arrays = {"W0": W0, "b0": b0, "W1": W1, "b1": b1, "classes": np.array([0, 1])}
    xio.write_archive(path, meta, arrays)
    return lambda X: np.argmax(
        np.tanh(X @ W0.T.astype(float) + b0) @ W1.T.astype(float) + b1, axis=1
    )


def test_a_version_1_model_still_uses_the_scaling_file_beside_it(tmp_path):
    network = _version_1_model(tmp_path / "model.npz")
    offset, scale = np.array([100.0, -2.0]), np.array([50.0, 0.5])
    xio.write_archive(  # scaling.npz's documented layout
        tmp_path / "scaling.npz",
        {"format": cli.SCALING_FORMAT, "format_version": 1, "how": "standardised"},
        {"offset": offset, "scale": scale},
    )
    X = np.random.default_rng(1).normal(size=(40, 2)) * scale + offset
    data = _write_csv(tmp_path / "x.csv", ["u", "v"], X.tolist())
    code, stdout, err = _predict(tmp_path / "model.npz", data)
    assert code == 0, err
    assert [int(v) for v in stdout.split()] == network((X - offset) / scale).tolist()
    # copied alone, it cannot know its scaling: it says so instead of predicting silently
    (tmp_path / "scaling.npz").unlink()
    code, stdout, err = _predict(tmp_path / "model.npz", data)
    assert code == 0 and "warning" in err and "scaling.npz" in err
    assert [int(v) for v in stdout.split()] == network(X).tolist()


def test_the_output_directory_holds_only_this_runs_files_and_lists_them(tmp_path):
    pytest.importorskip("matplotlib")
    X, y = datasets.make_moons(60, 0.1, seed=2)
    np.savez(tmp_path / "two.npz", X=X, y=y)
    np.savez(tmp_path / "three.npz", X=np.hstack([X, X[:, :1]]), y=y)
    out = tmp_path / "run"
    base = ["train", "--epochs", "2", "--backend", "numpy", "--out", str(out)]
    code, stdout, err = run([*base, "--data", str(tmp_path / "two.npz")])
    assert code == 0, err
    assert (out / "regions.png").exists() and "earlier run" not in stdout
    (out / "scaling.npz").write_bytes(b"left by an earlier version")
    code, stdout, err = run([*base, "--data", str(tmp_path / "three.npz")])
    assert code == 0, err
    names = ["model.npz", "history.csv", "curves.png", "checkpoint.npz"]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)  # no stale regions.png
    wrote = [line for line in stdout.splitlines() if line.startswith("wrote ")][-1]
    assert wrote == "wrote " + ", ".join(str(out / n) for n in names)
    assert "held an earlier run" in stdout and "removed regions.png, scaling.npz" in stdout


# ---------------------------------------------------------------------- --data FILE.npy, --mmap


def _npy_files(tmp_path):
    X, y = datasets.load_digits()
    files = {}
    for name, values in (("X", X[:300]), ("y", y[:300]), ("Xt", X[300:400]), ("yt", y[300:400])):
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], values)
    return files


def test_a_memory_mapped_run_equals_the_same_run_in_memory(tmp_path):
    f = _npy_files(tmp_path)
    base = ["train", "--data", str(f["X"]), "--labels", str(f["y"]), "--epochs", "3"]
    base += ["--test-data", str(f["Xt"]), "--test-labels", str(f["yt"]), "--backend", "numpy"]
    base += ["--hidden", "16", "--dtype", "float64", "--no-checkpoint"]
    code, mapped_out, err = run([*base, "--mmap", "--out", str(tmp_path / "mapped")])
    assert code == 0, err
    assert "300 training and 100 test samples (memory-mapped: streamed from the file)" in mapped_out
    code, _, err = run([*base, "--out", str(tmp_path / "loaded")])
    assert code == 0, err
    mapped = MLPClassifier.load(tmp_path / "mapped" / "model.npz")
    loaded = MLPClassifier.load(tmp_path / "loaded" / "model.npz")
    for (W, b), (W2, b2) in zip(mapped.params_, loaded.params_, strict=True):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    # and predict takes the .npy features, memory-mapped, as it takes the .npz
    np.savez(tmp_path / "t.npz", X=np.load(f["Xt"]))
    model = str(tmp_path / "mapped" / "model.npz")
    code, from_npy, err = run(["predict", "--model", model, "--data", str(f["Xt"])])
    assert code == 0, err
    code, from_npz, _ = run(["predict", "--model", model, "--data", str(tmp_path / "t.npz")])
    assert from_npy == from_npz and len(from_npy.split()) == 100


@pytest.mark.parametrize(
    "extra, option, words",
    [
        (["--mmap", "--test-size", "0.3"], "--test-size", "--test-data"),
        (["--test-data", "{Xt}"], "--test-labels", "--test-data needs it"),
        (["--labels", "{yt}"], "--labels", "100 labels for the 300 rows"),
        (["--mmap", "--test-data", "{y}", "--test-labels", "{yt}"], "--test-data", "expected"),
    ],
)
def test_npy_data_mistakes_exit_2_naming_the_option(tmp_path, extra, option, words):
    f = _npy_files(tmp_path)
    argv = ["train", "--data", str(f["X"]), "--out", str(tmp_path / "o")]
    if "--labels" not in extra:
        argv += ["--labels", str(f["y"])]
    argv += [a.format(**{k: str(v) for k, v in f.items()}) for a in extra]
    code, _, err = run(argv)
    assert code == 2
    assert f"error: {option}" in err and words in err and "Traceback" not in err
    assert not (tmp_path / "o" / "model.npz").exists()


def test_mmap_and_labels_need_a_npy_file(tmp_path):
    for extra, option in ((["--mmap"], "--mmap"), (["--labels", "y.npy"], "--labels")):
        code, _, err = run(["train", "--data", "digits", *extra, "--out", str(tmp_path)])
        assert code == 2 and f"error: {option}: only" in err


def test_a_picture_that_cannot_be_written_is_named_and_not_left_half_written(tmp_path, monkeypatch):
    import errno

    figure = pytest.importorskip("matplotlib.figure")

    def full_disk(self, path, **kw):
        Path(path).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(figure.Figure, "savefig", full_disk)
    out = tmp_path / "run"
    code, _, err = run(["train", "--data", "moons", "--epochs", "2", "--out", str(out)])
    assert code == cli.EXIT_IOERR
    assert f"error: {out / 'curves.png'}: No space left on device" in err
    assert "Traceback" not in err and not (out / "curves.png").exists()


def test_output_and_checkpoint_paths_are_checked_before_training(tmp_path):
    (tmp_path / "a-file").write_text("")
    base = ["train", "--data", "moons", "--epochs", "1", "--backend", "numpy"]
    cases = [
        (["--out", ""], "--out: the path is empty"),
        (["--out", str(tmp_path / "a-file")], "is not a directory"),
        (["--out", str(tmp_path / "o"), "--checkpoint", ""], "--checkpoint: the path is empty"),
        (
            ["--out", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "o" / "model.npz")],
            "--checkpoint: ",
        ),
    ]
    for extra, words in cases:
        code, stdout, err = run([*base, *extra])
        assert code == 2 and words in err, (extra, err)
        assert "epoch 1" not in stdout + err  # refused before any training
    assert not (tmp_path / "o" / "model.npz").exists()


def test_a_run_that_replaces_an_earlier_checkpoint_says_so(tmp_path):
    out = tmp_path / "run"
    base = ["train", "--data", "moons", "--backend", "numpy", "--out", str(out)]
    base += ["--checkpoint-every", "0"]
    code, stdout, err = run([*base, "--epochs", "3"])
    assert code == 0, err
    assert "earlier run" not in stdout
    assert xio.load_checkpoint(out / "checkpoint.npz")[0].epoch == 3
    code, stdout, err = run([*base, "--epochs", "2"])
    assert code == 0, err
    assert f"{out / 'checkpoint.npz'} holds epoch 3 of an earlier run" in stdout
    assert f"--resume {out / 'checkpoint.npz'}" in stdout
    assert xio.load_checkpoint(out / "checkpoint.npz")[0].epoch == 2


def _moons_model(tmp_path):
    """X of a small two-moons set, saved as tmp_path/d.npz, and a model of it in tmp_path/r."""
    X, y = datasets.make_moons(40, 0.1, seed=0)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    code, _, err = run(
        ["train", "--data", str(tmp_path / "d.npz"), "--epochs", "1"]
        + ["--out", str(tmp_path / "r"), "--backend", "numpy"]
    )
    assert code == 0, err
    return X


def test_predict_refuses_an_unknown_output_suffix_before_predicting(tmp_path):
    _moons_model(tmp_path)
    code, stdout, err = run(
        ["predict", "--model", str(tmp_path / "r" / "model.npz")]
        + ["--data", str(tmp_path / "d.npz"), "--output", "p.json"]
    )
    assert code == 2 and "--output: expected a file ending in .csv, .npy or .txt" in err
    assert "accuracy" not in err and stdout == ""


def test_a_csv_without_a_header_is_warned_about(tmp_path):
    X = _moons_model(tmp_path)
    headless = tmp_path / "headless.csv"
    headless.write_text("\n".join(",".join(repr(v) for v in row) for row in X[:5].tolist()))
    with pytest.warns(UserWarning, match="first row .* is all numbers.*Add a header row"):
        code, stdout, err = run(
            ["predict", "--model", str(tmp_path / "r" / "model.npz")] + ["--data", str(headless)]
        )
    assert code == 0 and len(stdout.split()) == 4  # the first row is the header


def test_resuming_is_announced_only_once_the_checkpoint_is_accepted(tmp_path):
    X, y = datasets.make_moons(80, 0.1, seed=0)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    np.savez(tmp_path / "b.npz", X=X + 1.0, y=y)  # the same shape, other values
    ckpt = tmp_path / "run" / "checkpoint.npz"
    base = ["train", "--backend", "numpy", "--out", str(tmp_path / "run")]
    code, _, err = run([*base, "--data", str(tmp_path / "a.npz"), "--epochs", "2"])
    assert code == 0, err
    code, stdout, err = run(
        [*base, "--data", str(tmp_path / "b.npz"), "--epochs", "4", "--resume", str(ckpt)]
    )
    assert code == 2 and "resuming from" not in stdout and "--resume" in err
    code, stdout, err = run(
        [*base, "--data", str(tmp_path / "a.npz"), "--epochs", "4", "--resume", str(ckpt)]
    )
    assert code == 0, err
    assert f"resuming from {ckpt} after epoch 2" in stdout
