"""Type checkers see xpnet's real classes, not the ``Any`` of its lazy ``__getattr__``."""

import textwrap
from pathlib import Path

import pytest

import xpnet

mypy_api = pytest.importorskip("mypy.api", reason="mypy is not installed (the test extra has it)")

PACKAGE = Path(xpnet.__file__).parent


def _mypy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str) -> tuple[str, int]:
    """mypy's report and exit status on ``source``, reading this xpnet from its sources.

    Third-party packages (NumPy, PyTorch, ...) are left out (``Any``) so the run
    takes seconds; xpnet is reached through a link, wherever it is installed.
    """
    (tmp_path / "path").mkdir()
    (tmp_path / "path" / "xpnet").symlink_to(PACKAGE, target_is_directory=True)
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nignore_missing_imports = True\nfollow_imports = silent\n"
    )
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(source))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MYPYPATH", str(tmp_path / "path"))
    out, err, status = mypy_api.run(
        [
            "--config-file",
            str(tmp_path / "mypy.ini"),
            "--cache-dir",
            str(tmp_path / "cache"),
            "--no-site-packages",
            str(snippet),
        ]
    )
    assert not err, err
    return out, status


def _revealed(out: str) -> list[str]:
    return [
        line.split("Revealed type is ", 1)[1] for line in out.splitlines() if "Revealed" in line
    ]


def test_lazy_names_have_their_real_types(tmp_path, monkeypatch):
    out, status = _mypy(
        tmp_path,
        monkeypatch,
        """
        import xpnet
        from xpnet import ConvergenceWarning, MLPClassifier, MLPRegressor, NotFittedError

        reveal_type(MLPClassifier)
        reveal_type(MLPRegressor)
        reveal_type(NotFittedError)
        reveal_type(ConvergenceWarning)
        reveal_type(xpnet.datasets.load_digits)
        """,
    )
    assert status == 0, out
    revealed = _revealed(out)
    assert len(revealed) == 5, out
    assert not any(r.strip('"') == "Any" for r in revealed), out
    assert revealed[0].endswith('-> xpnet.estimators.classifier.MLPClassifier"'), out
    assert revealed[1].endswith('-> xpnet.estimators.regressor.MLPRegressor"'), out
    assert revealed[2].endswith('-> xpnet.exceptions.NotFittedError"'), out
    assert revealed[3].endswith('-> xpnet.exceptions.ConvergenceWarning"'), out
    assert revealed[4].startswith('"def ('), out


def test_a_wrong_argument_is_caught_by_the_type_checker(tmp_path, monkeypatch):
    # with Any (the lazy __getattr__ alone) mypy would accept both lines
    out, status = _mypy(
        tmp_path,
        monkeypatch,
        """
        from xpnet import MLPClassifier

        MLPClassifier(max_iter="ten")
        MLPClassifier().no_such_method()
        """,
    )
    assert status == 1, out
    assert 'Argument "max_iter" to "MLPClassifier" has incompatible type "str"' in out, out
    assert '"MLPClassifier" has no attribute "no_such_method"' in out, out


def test_the_package_is_marked_typed():
    # PEP 561: without py.typed, type checkers ignore an installed xpnet's annotations
    assert (PACKAGE / "py.typed").is_file()
