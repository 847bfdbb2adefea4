"""The README's Python examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_the_estimator_and_functional_examples():
    assert len(BLOCKS) >= 2
    assert any("MLPClassifier" in b for b in BLOCKS)
    assert any("mlp.objective" in b and "gradcheck" in b for b in BLOCKS)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # examples may write files
    exec(
        compile(BLOCKS[index], f"README.md python block {index}", "exec"),
        {"__name__": "__readme__"},
    )
    assert capsys.readouterr().out.strip()  # every example prints its result
