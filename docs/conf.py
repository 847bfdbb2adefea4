"""Sphinx configuration of xpnet's documentation; ``bash ci/docs`` builds it.

Besides the usual settings, this file

* documents the checkout it lives in (``../src`` goes first on ``sys.path``);
* writes, at each build, one API page per module of xpnet that is present
  (``api/generated/``), so a module that is added or removed needs no edit
  here, and the help of the ``xpnet`` command (``_generated/``);
* sets a tag per optional feature of the code (``has_jax`` when it is
  there, ``no_jax`` when not, and so on for ``compile``, ``distributed``,
  ``distributed_fit``, ``distributed_cli``, ``export``, ``regressor`` and
  ``squared_error``): the pages describe a part of the contract that this
  version does not implement yet as planned, under ``.. only:: no_...``;
* turns every "eq. (N.M)" in a docstring into a link to that equation of the
  derivation page, and warns (an error under ``-W``) when a docstring cites an
  equation the page does not have.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import io
import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT / "src"))

import xpnet  # noqa: E402  (after the path: the checkout's xpnet, installed or not)

# -- project ------------------------------------------------------------------------------

project = "xpnet"
author = "The xpnet developers"
copyright = "2026, The xpnet developers"
release = xpnet.__version__
version = release

# -- general ------------------------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]
root_doc = "index"
exclude_patterns = ["_build", "_generated", "**/.ipynb_checkpoints"]
templates_path: list[str] = []
nitpicky = True
default_role = "code"  # a single-backquoted word in a docstring is code, never a guess
pygments_style = "sphinx"
language = "en"

# -- autodoc / napoleon -------------------------------------------------------------------

# Optional libraries xpnet imports only when used; mocked so autodoc never needs them.
autodoc_mock_imports = [
    "cupy",
    "jax",
    "jaxlib",
    "matplotlib",
    "mpi4py",
    "ndonnx",
    "onnx",
    "onnxruntime",
    "sklearn",
    "threadpoolctl",
    "torch",
    "tqdm",
]
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_type_aliases = {"Array": "Array", "Params": "Params", "Schedule": "Schedule"}
autoclass_content = "class"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True
napoleon_use_rtype = False
napoleon_attr_annotations = True

# Names in signatures that are not xpnet's: without intersphinx (the build reads no network)
# they cannot link anywhere, so they are shown as they are.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|abc|collections\.abc|os|pathlib|argparse|types|zipfile|typing)\..*"),
    (r"py:.*", r"(Array|Params|Schedule|ModuleType|Path|Sequence|Mapping|Callable|PathLike)"),
    (r"py:.*", r"(np\.ndarray|np\.random\.Generator|numpy\.ndarray|NamedTuple)"),
    (r"py:.*", r"(cupy|torch|jax|sklearn|matplotlib|mpi4py|ndonnx|onnx|onnxruntime)(\..*)?"),
    # what Sphinx 9 makes the target of an aliased name inside a generic
    (r"py:class", r"TypeAliasForwardRef"),
    # the estimators' "returns the class it is called on" type variable
    (r"py:class", r"xpnet\.estimators\.base\._Est"),
]
# A "Raises:" entry naming two exceptions at once; shown as written.
nitpick_ignore = [("py:exc", "ValueError / TypeError")]

# -- HTML -----------------------------------------------------------------------------------

html_theme = "alabaster"
html_title = f"xpnet {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Neural networks from scratch, written once against the Python array API "
    "standard",
    "fixed_sidebar": True,
    "page_width": "1100px",
    "sidebar_width": "230px",
    "show_relbars": True,
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}
html_show_sourcelink = False
html_copy_source = False

# The derivation numbers its equations itself, with \tag{N.M}; these are its operators.
mathjax3_config = {
    "tex": {
        "macros": {
            name: rf"\operatorname{{{name}}}"
            for name in ("sigmoid", "softplus", "softmax", "onehot", "sign", "rect", "logsumexp")
        }
    }
}

# -- optional features present in this checkout -------------------------------------------


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _estimator_takes(parameter: str) -> bool:
    from xpnet.estimator import MLPClassifier

    return parameter in inspect.signature(MLPClassifier).parameters


def _command_takes(option: str) -> bool:
    from xpnet import cli

    def options(parser) -> set[str]:
        found = set()
        for action in parser._actions:
            found.update(action.option_strings)
            if isinstance(getattr(action, "choices", None), dict):
                for sub in action.choices.values():
                    found |= options(sub)
        return found

    return option in options(cli.build_parser())


FEATURES = {
    "has_jax": "jax" in getattr(importlib.import_module("xpnet.backend"), "BACKEND_NAMES", ()),
    "has_compile": _estimator_takes("compile"),
    "has_distributed": _has_module("xpnet.distributed"),
    "has_distributed_fit": _estimator_takes("distributed"),
    "has_distributed_cli": _command_takes("--distributed"),
    "has_export": _has_module("xpnet.export"),
    "has_regressor": hasattr(importlib.import_module("xpnet.estimator"), "MLPRegressor"),
    "has_squared_error": hasattr(importlib.import_module("xpnet.losses"), "squared_error"),
}
for _tag, _present in FEATURES.items():
    tags.add(_tag if _present else _tag.replace("has_", "no_"))  # noqa: F821 - Sphinx's `tags`

#: What each optional feature adds to the API: while a feature is absent, references to
#: these names (in the pages' ``.. only:: has_...`` blocks) are shown as plain text.
OPTIONAL_NAMES = {
    "has_distributed": ("xpnet.distributed",),
    "has_export": ("xpnet.export",),
    "has_compile": ("xpnet.compile", "xpnet.step"),
    "has_regressor": ("xpnet.estimator.MLPRegressor", "xpnet.MLPRegressor"),
    "has_squared_error": ("xpnet.losses.squared_error",),
}
ABSENT_NAMES = tuple(
    name for feature, names in OPTIONAL_NAMES.items() if not FEATURES[feature] for name in names
)


def absent_reference(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") == "py" and target.startswith(ABSENT_NAMES):
        return contnode
    return None


# -- API pages, one per module present ----------------------------------------------------

#: (module, what it is), in the order of the data flow; absent modules are left out.
API_MODULES = [
    ("xpnet", "the package: what import xpnet gives"),
    ("xpnet.functional", "activations, their derivatives, softmax, norms (section 1)"),
    ("xpnet.losses", "softmax cross-entropy and its gradient"),
    ("xpnet.regularizers", "the elastic net on the weights"),
    ("xpnet.mlp", "parameters, forward pass, backprop, objective (section 2)"),
    ("xpnet.gradcheck", "analytic gradients against central finite differences"),
    ("xpnet.optim", "SGD, momentum, Nesterov, Adam and learning-rate schedules"),
    ("xpnet.step", "the pure training step"),
    ("xpnet.train", "the minibatch training loop"),
    ("xpnet.compile", "compiling the step where the backend can"),
    ("xpnet.distributed", "data-parallel training over MPI"),
    ("xpnet.backend", "backend specs, devices, host randomness"),
    ("xpnet.preprocessing", "the input standardisation that model files carry"),
    ("xpnet.estimators.classifier", "MLPClassifier: softmax outputs and class labels"),
    ("xpnet.estimators.regressor", "MLPRegressor: identity outputs and the squared loss"),
    ("xpnet.estimators.base", "the estimators' shared base: fitting, checkpoints, files"),
    ("xpnet.exceptions", "the documented exceptions and warnings"),
    ("xpnet.validation", "parameter constraints and data checks"),
    ("xpnet.io", "model files and checkpoints"),
    ("xpnet.export", "ONNX export"),
    ("xpnet.datasets", "moons, digits, MNIST, npz and csv"),
    ("xpnet.plot", "learning curves and decision regions"),
    ("xpnet.tree", "nests of arrays"),
]

_API_PAGE = """\
{title}
{rule}

.. automodule:: {module}
"""

_PACKAGE_PAGE = """\
{title}
{rule}

.. automodule:: xpnet
   :no-members:

What ``import xpnet`` gives, and where each name is documented:

.. list-table::
   :header-rows: 1
   :widths: 30 70

   * - name
     - documented as
{rows}
"""


def _package_rows() -> str:
    rows = []
    for name in xpnet.__all__:
        if name == "__version__":
            target = f"the version string, ``{xpnet.__version__}``"
        else:
            obj = getattr(xpnet, name)
            if isinstance(obj, type(sys)):
                target = f":mod:`{obj.__name__}`"
            else:
                role = "class" if isinstance(obj, type) else "func"
                target = f":{role}:`{obj.__module__}.{obj.__qualname__}`"
        rows.append(f"   * - ``xpnet.{name}``\n     - {target}")
    return "\n".join(rows)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_api_pages() -> None:
    out = DOCS / "api" / "generated"
    present = [(m, what) for m, what in API_MODULES if _has_module(m)]
    keep = set()
    for module, _what in present:
        title = f"``{module}``"
        rule = "=" * len(title)
        if module == "xpnet":
            text = _PACKAGE_PAGE.format(title=title, rule=rule, rows=_package_rows())
        else:
            text = _API_PAGE.format(title=title, rule=rule, module=module)
            if module == "xpnet.exceptions":  # its re-exports are documented where they live
                text += "   :exclude-members: DivergenceError, BackendUnavailableError\n"
        _write_if_changed(out / f"{module}.rst", text)
        keep.add(f"{module}.rst")
    for stale in out.glob("*.rst"):
        if stale.name not in keep:
            stale.unlink()
    toctree = [".. toctree::", "   :maxdepth: 1", ""]
    toctree += [f"   {module} — {what} <generated/{module}>" for module, what in present]
    _write_if_changed(out / "toctree.inc", "\n".join(toctree) + "\n")


# -- the command's help -------------------------------------------------------------------


def write_cli_help() -> None:
    from xpnet import cli

    out = DOCS / "_generated"
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "88"
    try:
        parser = cli.build_parser()
        pages = {"xpnet": parser}
        for action in parser._actions:  # the subcommands' parsers
            if getattr(action, "choices", None) and isinstance(action.choices, dict):
                for name, sub in action.choices.items():
                    if sub.add_help:  # `bench` forwards its arguments to its own parser
                        pages[f"xpnet-{name}"] = sub
        sections = []
        for name, p in pages.items():
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                p.print_help()
            _write_if_changed(out / f"{name}.txt", buffer.getvalue())
            title = "``" + name.replace("-", " ") + "``"
            sections += [title, "-" * len(title), ""]
            sections += [f".. literalinclude:: /_generated/{name}.txt", "   :language: text", ""]
        _write_if_changed(out / "commands.inc", "\n".join(sections))
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


# -- the install extras, read from pyproject.toml and backends/ ----------------------------

EXTRA_PURPOSE = {
    "torch": "the PyTorch backend (CPU, or CUDA with a CUDA build)",
    "cuda12": "the CuPy backend, NVIDIA GPU with a CUDA 12 driver",
    "cuda13": "the CuPy backend, NVIDIA GPU with a CUDA 13 driver",
    "jax": "the JAX backend (the CPU build)",
    "strict": "the array-api-strict backend (the standard and nothing else)",
    "plot": "``xpnet.plot``: learning curves, decision regions",
    "sklearn": "scikit-learn, for its pipelines and comparisons",
    "cli": "what ``xpnet train`` uses: figures and a progress bar",
    "mpi": "data-parallel training over MPI",
    "export": "ONNX export",
    "test": "the test suite and its linters",
    "docs": "this documentation (``bash ci/docs``)",
}


def _extras() -> dict[str, list[str]]:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    section = text.split("[tool.setuptools.dynamic.optional-dependencies]", 1)[-1]
    section = section.split("\n[", 1)[0]
    extras = {}
    for name, files in re.findall(r"^([\w-]+)\s*=\s*\{\s*file\s*=\s*\[(.*?)\]", section, re.M):
        requirements = []
        for file in re.findall(r'"([^"]+)"', files):
            for line in (ROOT / file).read_text(encoding="utf-8").splitlines():
                line = line.split("#", 1)[0].strip()
                if line and line not in requirements:
                    requirements.append(line)
        extras[name] = requirements
    return extras


def write_extras_table() -> None:
    rows = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 12 48 40",
        "",
        "   * - extra",
        "     - for",
        "     - installs",
    ]
    for name, requirements in _extras().items():
        rows.append(f"   * - ``{name}``")
        rows.append(f"     - {EXTRA_PURPOSE.get(name, '')}")
        rows.append("     - " + ", ".join(f"``{r}``" for r in requirements))
    _write_if_changed(DOCS / "_generated" / "extras.inc", "\n".join(rows) + "\n")


# -- docstrings: "eq. (N.M)" links to the derivation -------------------------------------

_LABEL = re.compile(r"^\.\. _eq-(\d+\.\d+):", re.MULTILINE)
EQUATIONS = set(_LABEL.findall((DOCS / "derivation.rst").read_text(encoding="utf-8")))

_CITATION = re.compile(r"\beq\. \((\d+\.\d+)\)((?:(?:, | / |-| and )\(\d+\.\d+\))*)")
_MORE = re.compile(r"\((\d+\.\d+)\)")
# Older wording of the same citations ("seed 2.12", "the seed's section 1"), read the same way.
_OLD_NUMBERS = re.compile(r"\bseed (\d+\.\d+)((?:(?:, | / |-)\d+\.\d+)*)")
_OLD_PHRASES = [
    (re.compile(r"\bThe seed's section (\d)"), r"Section \1 of the derivation"),
    (re.compile(r"\bseed section (\d)"), r"section \1 of the derivation"),
    (re.compile(r"\bThe seed's\b"), "The derivation's"),
    (re.compile(r"\bthe seed's\b"), "the derivation's"),
    (re.compile(r"\b(from|follows) the seed\b"), r"\1 the derivation"),
]


def _old_numbers(match: re.Match) -> str:
    rest = re.sub(r"(\d+\.\d+)", r"(\1)", match.group(2))
    return f"eq. ({match.group(1)}){rest}"


def _modernise(text: str) -> str:
    text = _OLD_NUMBERS.sub(_old_numbers, text)
    for pattern, replacement in _OLD_PHRASES:
        text = pattern.sub(replacement, text)
    return text


def _link(number: str, text: str, where: str, app) -> str:
    if number not in EQUATIONS:
        from sphinx.util import logging

        logging.getLogger("xpnet.docs").warning(
            "%s cites eq. (%s), which the derivation page does not have", where, number
        )
        return text
    return f":ref:`{text} <eq-{number}>`"


def _link_citations(segment: str, where: str, app) -> str:
    def one(match: re.Match) -> str:
        first = _link(match.group(1), f"eq. ({match.group(1)})", where, app)
        rest = _MORE.sub(lambda m: _link(m.group(1), m.group(0), where, app), match.group(2))
        return first + rest

    return _CITATION.sub(one, segment)


def _outside_literals(line: str, fn) -> str:
    parts = re.split(r"(``.*?``)", line)
    return "".join(p if p.startswith("``") else fn(p) for p in parts)


def _plain_text(segment: str) -> str:
    # docstrings write |x| for an absolute value, never an reST substitution
    return segment.replace("|", "\\|")


_NOT_PROSE = re.compile(r"^(:|\.\. |[*+-] |\d+\. |>>>)")


def _formula_blocks(lines: list[str]) -> list[str]:
    """Indented blocks after a top-level paragraph (formulas, in xpnet's docstrings) as literal
    blocks, so that their line breaks and columns survive; reST would run them together."""
    out: list[str] = []
    for line in lines:
        previous = out[-1] if out else ""
        if line.startswith(" ") and line.strip() and not previous.startswith(" "):
            heads = [x for x in out if x.strip()]
            head = heads[-1] if heads else ""
            if head and not head.startswith(" ") and not _NOT_PROSE.match(head):
                if not head.endswith("::"):
                    if head.endswith(":"):
                        out[len(out) - 1 - out[::-1].index(head)] = head + ":"
                    else:
                        out += ["", "::"]
                if out[-1].strip():
                    out.append("")
        out.append(line)
    return out


_SHARED_FIELD = re.compile(r"^(\s*):ivar (\w+(?:, \w+)+):(.*)$")


def _split_shared_fields(lines: list[str]) -> list[str]:
    """``:ivar a, b: text`` (napoleon's output for "a, b: text" under Attributes) as one
    field per name; reST would read ``a,`` as the type of ``b``."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _SHARED_FIELD.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, names, text = match.groups()
        body = []
        i += 1
        while i < len(lines) and lines[i].startswith(indent + " ") and lines[i].strip():
            body.append(lines[i])
            i += 1
        for field in names.split(", "):
            out += [f"{indent}:ivar {field}:{text}", *body]
    return out


_PROSE_TYPE = re.compile(r":type: ([A-Za-z][\w']*(?: [\w']+)+)")


def _prose_not_type(what: str, lines: list[str]) -> None:
    """napoleon reads "The history's metric: ..." opening a property's docstring as the
    type "The history's metric"; words with spaces are prose, so they go back in front."""
    if what not in ("attribute", "property", "data") or not lines:
        return
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].strip():
            match = _PROSE_TYPE.fullmatch(lines[i].strip())
            if match:
                del lines[i]
                lines[0] = f"{match.group(1)}: {lines[0]}"
            return


def process_docstring(app, what, name, obj, options, lines) -> None:
    _prose_not_type(what, lines)
    lines[:] = _formula_blocks(_split_shared_fields(lines))
    literal_indent = None  # indentation of the paragraph that opened a literal block
    for i, line in enumerate(lines):
        line = _modernise(line)
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None and stripped and indent <= literal_indent:
            literal_indent = None
        if literal_indent is None and not stripped.startswith(">>>"):
            line = _outside_literals(line, lambda s: _link_citations(_plain_text(s), name, app))
        if stripped.endswith("::"):
            literal_indent = indent
        lines[i] = line


_ALIAS_REF = re.compile(r"TypeAliasForwardRef\('(\w+)'\)")


def process_signature(app, what, name, obj, options, signature, return_annotation):
    # Sphinx 9 writes an aliased name nested in a generic (Sequence[Array]) as its repr
    fix = lambda text: _ALIAS_REF.sub(r"\1", text) if text else text  # noqa: E731
    return fix(signature), fix(return_annotation)


def skip_member(app, what, name, obj, skip, options):
    # NamedTuple fields ("Alias for field number N"): their class's Attributes section has them
    doc = getattr(obj, "__doc__", None) or ""
    if isinstance(doc, str) and doc.startswith("Alias for field number"):
        return True
    return None


def setup(app):
    write_api_pages()
    write_cli_help()
    write_extras_table()
    app.connect("autodoc-process-docstring", process_docstring, priority=600)
    app.connect("autodoc-process-signature", process_signature)
    app.connect("autodoc-skip-member", skip_member)
    app.connect("missing-reference", absent_reference)
    return {"parallel_read_safe": True}
