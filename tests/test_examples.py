"""The scripts in examples/ run (with small settings) and write valid PNG figures."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_png

pytest.importorskip("matplotlib")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str, cwd: Path) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_moons_regions_draws_a_grid_of_decision_regions(tmp_path):
    out = tmp_path / "grid.png"
    stdout = run_example(
        "moons_regions.py",
        str(out),
        "--epochs",
        "20",
        "--samples",
        "80",
        "--resolution",
        "40",
        "--backend",
        "numpy",
        cwd=tmp_path,
    )
    assert "16 networks trained" in stdout
    assert_png(out, min_width=1000, min_height=1000, min_bytes=20_000)  # four rows of four panels


def test_moons_regions_writes_its_default_file_name(tmp_path):
    run_example(
        "moons_regions.py",
        "--epochs",
        "3",
        "--samples",
        "40",
        "--resolution",
        "20",
        "--backend",
        "numpy",
        cwd=tmp_path,
    )
    assert_png(tmp_path / "moons_regions.png", min_width=1000, min_height=1000, min_bytes=20_000)


def test_learning_curves_on_the_embedded_digits(tmp_path):
    stdout = run_example("learning_curves.py", "--epochs", "4", "--backend", "numpy", cwd=tmp_path)
    assert stdout.startswith("8x8 digits: 4 epochs")
    assert_png(tmp_path / "learning_curves.png", min_width=800, min_height=300, min_bytes=20_000)


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_learning_curves_on_mnist_files(tmp_path):
    rng = np.random.default_rng(0)
    mnist = tmp_path / "mnist"
    mnist.mkdir()
    for prefix, n in (("train", 300), ("t10k", 60)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 256, (n, 28, 28))
        _write_idx(mnist / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(mnist / f"{prefix}-labels-idx1-ubyte.gz", labels)
    out = tmp_path / "mnist.png"
    stdout = run_example(
        "learning_curves.py",
        "--mnist",
        str(mnist),
        "--epochs",
        "3",
        "--hidden",
        "16",
        "--out",
        str(out),
        "--backend",
        "numpy",
        cwd=tmp_path,
    )
    assert stdout.startswith("MNIST: 3 epochs")
    assert_png(out, min_width=800, min_height=300, min_bytes=20_000)
