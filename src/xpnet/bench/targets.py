"""Performance targets: goals read from a TOML file, each met or missed by this run.

The targets are a project's goals, not part of the package: xpnet's own live
in ``benchmarks/targets.toml`` at the root of its repository. ``xpnet bench``
reads the file given with ``--targets PATH``, else ``benchmarks/targets.toml``
under the current directory, else the one of the repository checkout this
package was imported from (an editable install); with none it prints the
tables alone. Reading needs ``tomllib`` (Python >= 3.11) or the ``tomli``
package; without either the targets are skipped with a note.

The file holds ``version = 1`` and one ``[[target]]`` table per goal, printed
in the file's order. Keys common to every kind:

* ``kind``: ``"ratio"`` (the default), ``"gemm_fraction"``, ``"memory"``,
  ``"import_time"`` or ``"heavy_imports"``;
* ``workload``: the workload it applies to, a name or a glob (default
  ``"*"``: every workload);
* ``why``: a sentence saying why this is a goal (required; printed when the
  target is missed);
* ``needs``: ``"gpu"`` when it can only be measured with a usable CUDA
  device (then it reads "not measured (no CUDA device)" without one).

Per kind:

* ``ratio``: ``numerator`` / ``denominator`` of the steady-state seconds per
  epoch, both from the same run, at most ``max`` or at least ``min`` (exactly
  one of them). Each side is a contender's name (``xpnet-numpy``,
  ``numpy-hand``, ...) or a glob (``xpnet-*``), which stands for the fastest
  contender matching it; ``on = "cpu"`` or ``"gpu"`` restricts globs to the
  contenders on that device and labels the target.
* ``gemm_fraction``: the ``contender``'s achieved fraction of the float32
  matmul rate measured in the run (the GEMM floor over its time per epoch),
  ``min`` or ``max``; a name or a glob, with ``on`` as for ``ratio``.
* ``memory``: the rise of the ``contender``'s peak RSS over its RSS after
  imports is at most ``data_factor`` x the workload's float32 X plus
  ``extra_mb`` MB.
* ``import_time``: the whole-process time of ``python -c "import xpnet"``
  over that of ``"import numpy"``, ``max``.
* ``heavy_imports``: how many of torch, cupy, sklearn, matplotlib
  ``import xpnet`` loads, ``max``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from .report import Row
from .workloads import Workload

#: Where the targets live, relative to the current directory or a repository checkout.
TARGETS_FILE = Path("benchmarks") / "targets.toml"
#: The ``version`` this module reads.
VERSION = 1

_COMMON = {"kind", "workload", "why", "needs"}
#: kind -> (required keys, optional keys), besides the common ones.
_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "ratio": ({"numerator", "denominator"}, {"max", "min", "on"}),
    "gemm_fraction": ({"contender"}, {"max", "min", "on"}),
    "memory": ({"contender", "data_factor", "extra_mb"}, set()),
    "import_time": ({"max"}, set()),
    "heavy_imports": ({"max"}, set()),
}
_BOUNDED = ("ratio", "gemm_fraction")  # exactly one of max / min


class TargetsError(ValueError):
    """The targets file cannot be read or does not follow the schema."""


@dataclass(frozen=True)
class TargetSpec:
    """One ``[[target]]`` table of the file, checked."""

    kind: str
    why: str
    workload: str = "*"
    needs: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    contender: str | None = None
    on: str | None = None
    max: float | None = None
    min: float | None = None
    data_factor: float | None = None
    extra_mb: float | None = None

    @property
    def limit(self) -> float | None:
        """The bound: ``max`` or ``min``, None for a kind that takes neither."""
        return self.max if self.max is not None else self.min

    @property
    def higher_is_better(self) -> bool:
        return self.max is None

    def applies_to(self, wl: Workload) -> bool:
        return fnmatchcase(wl.name, self.workload)


@dataclass
class Targets:
    """The targets read for this run: from ``path``, or none, with ``note`` saying why."""

    specs: list[TargetSpec] = field(default_factory=list)
    path: Path | None = None
    note: str = ""


def _toml_module() -> Any:
    """``tomllib`` (Python >= 3.11), else ``tomli`` when installed, else None."""
    try:
        import tomllib

        return tomllib
    except ModuleNotFoundError:
        pass
    try:
        import tomli

        return tomli
    except ModuleNotFoundError:
        return None


def repository_targets() -> Path:
    """``benchmarks/targets.toml`` of the checkout this package sits in (an editable install)."""
    return Path(__file__).resolve().parents[3] / TARGETS_FILE


def find_targets(explicit: str | Path | None = None) -> Path | None:
    """The targets file to read: ``explicit``, else the current directory's, else the checkout's.

    Raises:
        TargetsError: ``explicit`` is not a file.
    """
    if explicit is not None:
        path = Path(explicit)
        if not path.is_file():
            raise TargetsError(f"--targets: no such file: {path}")
        return path
    for path in (Path.cwd() / TARGETS_FILE, repository_targets()):
        if path.is_file():
            return path
    return None


def load_targets(explicit: str | Path | None = None) -> Targets:
    """Find and read the targets (see the module's docstring for where and what).

    Raises:
        TargetsError: the file named by ``explicit`` is missing, or the file
            found is not valid TOML or breaks the schema.
    """
    path = find_targets(explicit)
    if path is None:
        return Targets(note=f"no {TARGETS_FILE.as_posix()} here or in the checkout (--targets)")
    toml = _toml_module()
    if toml is None:
        return Targets(
            path=path,
            note=f"skipped: reading {path} needs Python >= 3.11 (tomllib) or the tomli package",
        )
    try:
        with open(path, "rb") as f:
            data = toml.load(f)
    except OSError as e:
        raise TargetsError(f"targets file {path}: {e}") from e
    except toml.TOMLDecodeError as e:
        raise TargetsError(f"targets file {path}: not valid TOML: {e}") from e
    return Targets(specs=parse_targets(data, str(path)), path=path)


def parse_targets(data: dict, source: str = "targets") -> list[TargetSpec]:
    """Check the contents of a targets file against the schema; the targets in their order.

    Raises:
        TargetsError: naming the target and the key that is wrong.
    """
    unknown = set(data) - {"version", "target"}
    if unknown:
        raise TargetsError(f"{source}: unknown top-level key(s) {', '.join(sorted(unknown))}")
    if data.get("version") != VERSION:
        raise TargetsError(f"{source}: expected version = {VERSION}, got {data.get('version')!r}")
    entries = data.get("target", [])
    if not isinstance(entries, list):
        raise TargetsError(f"{source}: 'target' must be an array of tables ([[target]])")
    return [_parse_one(entry, f"{source}: target {k + 1}") for k, entry in enumerate(entries)]


def _parse_one(entry: Any, where: str) -> TargetSpec:
    if not isinstance(entry, dict):
        raise TargetsError(f"{where}: expected a table")
    kind = entry.get("kind", "ratio")
    if not isinstance(kind, str) or kind not in _KEYS:
        raise TargetsError(f"{where}: unknown kind {kind!r}; expected one of {', '.join(_KEYS)}")
    where = f"{where} ({kind})"
    required, optional = _KEYS[kind]
    missing = sorted((required | {"why"}) - set(entry))
    if missing:
        raise TargetsError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(entry) - required - optional - _COMMON)
    if unknown:
        raise TargetsError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if kind in _BOUNDED and ("max" in entry) == ("min" in entry):
        raise TargetsError(f"{where}: give exactly one of max and min")
    for key in ("why", "workload", "numerator", "denominator", "contender"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            raise TargetsError(f"{where}: {key} must be a non-empty string")
    for key in ("max", "min", "data_factor", "extra_mb"):
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TargetsError(f"{where}: {key} must be a number, got {value!r}")
            if not math.isfinite(value) or value < 0:
                raise TargetsError(f"{where}: {key} must be finite and >= 0, got {value!r}")
    for key, allowed in (("on", ("cpu", "gpu")), ("needs", ("gpu",))):
        if key in entry and entry[key] not in allowed:
            raise TargetsError(
                f"{where}: {key} must be {' or '.join(repr(a) for a in allowed)}, "
                f"got {entry[key]!r}"
            )
    values: dict[str, Any] = {
        k: (float(v) if k in ("max", "min", "data_factor", "extra_mb") else v)
        for k, v in entry.items()
    }
    values["kind"] = kind
    return TargetSpec(**values)


# ----------------------------------------------------------------------------- evaluation


@dataclass
class Target:
    """A goal and whether this run meets it."""

    what: str
    value: float | None
    limit: float
    higher_is_better: bool = False
    unit: str = ""
    why_missing: str = ""
    fastest: float | None = None  # the same ratio between the fastest runs, for noisy machines
    why: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.higher_is_better else self.value <= self.limit

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured" + (f" ({self.why_missing})" if self.why_missing else "")
        if self.met:
            return "met"
        if self.limit == 0:
            return "MISSED"
        return f"MISSED by {abs(self.value / self.limit - 1) * 100:.0f} %"

    def line(self) -> str:
        if self.value is None:
            return f"  {self.what}: {self.status}"
        sign = ">=" if self.higher_is_better else "<="
        if self.unit == "%":
            shown = f"{100 * self.value:.1f} % (target {sign} {100 * self.limit:.0f} %)"
        elif self.unit == "MB":
            shown = f"{self.value:.0f} MB (target {sign} {self.limit:.0f} MB)"
        elif self.unit == "count":
            shown = f"{self.value:.0f} (target {sign} {self.limit:.0f})"
        else:
            shown = f"{self.value:.2f} (target {sign} {self.limit:.2f})"
        if self.fastest is not None:
            shown += f" [fastest runs: {self.fastest:.2f}]"
        return f"  {self.what} = {shown}: {self.status}"

    def lines(self) -> list[str]:
        """The target's line, and its reason under it when it is missed."""
        out = [self.line()]
        if self.met is False and self.why:
            out.append(f"      why it matters: {self.why}")
        return out


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _pick(pattern: str, rows: Sequence[Row], on: str | None) -> tuple[Row | None, Row | None]:
    """The row ``pattern`` stands for (by median) and the one with the fastest run.

    A name is that contender; a glob the fastest of those matching it, on
    ``on``'s device when given.
    """
    if not _is_glob(pattern):
        row = next((r for r in rows if r.name == pattern), None)
        return row, row
    matches = [
        r for r in rows if fnmatchcase(r.name, pattern) and (on is None or r.gpu == (on == "gpu"))
    ]
    if not matches:
        return None, None
    return min(matches, key=lambda r: r.per_epoch), min(matches, key=lambda r: r.fastest)


def _side_label(pattern: str, row: Row | None) -> str:
    """A side of a target as printed: the name, or ``fastest <glob> [the one it was]``."""
    if not _is_glob(pattern):
        return pattern
    return f"fastest {pattern}" + (f" [{row.name}]" if row is not None else "")


def _not_run(spec: TargetSpec, gpu_seen: bool, sides: Sequence[tuple[str, Row | None]]) -> str:
    """Why a target is not measured ('' when it is)."""
    absent = [pattern for pattern, row in sides if row is None]
    if not absent:
        return ""
    if spec.needs == "gpu" and not gpu_seen:
        return "no CUDA device"
    where = f" on {spec.on.upper()}" if spec.on else ""
    named = [p for p in absent if not _is_glob(p)]
    globs = [f"nothing matching {p}{where}" for p in absent if _is_glob(p)]
    return "; ".join(([", ".join(named) + " not run"] if named else []) + globs) + (
        " ran" if globs else ""
    )


def evaluate(
    specs: Sequence[TargetSpec],
    rows: Sequence[Row],
    wl: Workload,
    fractions: dict[str, float],
    gpu_seen: bool,
    startup: dict | None,
) -> list[Target]:
    """Each target that applies to this workload, with this run's value.

    ``startup`` is :func:`~xpnet.bench.environment.measure_startup`'s result,
    or None when not measured (``--no-startup``: its targets are left out).
    The memory target is left out where its contender did not run a whole
    epoch (timed on a few minibatches) or the RSS could not be read.
    """
    out: list[Target] = []
    for spec in specs:
        if not spec.applies_to(wl):
            continue
        if spec.kind == "ratio":
            out.append(_ratio_target(spec, rows, wl, gpu_seen))
        elif spec.kind == "gemm_fraction":
            out.append(_fraction_target(spec, rows, wl, fractions, gpu_seen))
        elif spec.kind == "memory":
            target = _memory_target(spec, rows, wl)
            if target is not None:
                out.append(target)
        elif startup is not None:
            out.append(_startup_target(spec, startup))
    return out


def _ratio_target(spec: TargetSpec, rows: Sequence[Row], wl: Workload, gpu_seen: bool) -> Target:
    num, num_fast = _pick(spec.numerator or "", rows, spec.on)
    den, den_fast = _pick(spec.denominator or "", rows, spec.on)
    where = f" {spec.on.upper()}" if spec.on else ""
    what = (
        f"{wl.name}{where}: {_side_label(spec.numerator or '', num)} / "
        f"{_side_label(spec.denominator or '', den)}"
    )
    ratio = fastest = None
    if num is not None and den is not None and num_fast is not None and den_fast is not None:
        ratio = num.per_epoch / den.per_epoch
        fastest = num_fast.fastest / den_fast.fastest
    return Target(
        what,
        ratio,
        _bound(spec),
        higher_is_better=spec.higher_is_better,
        why_missing=_not_run(
            spec, gpu_seen, [(spec.numerator or "", num), (spec.denominator or "", den)]
        ),
        fastest=fastest,
        why=spec.why,
    )


def _fraction_target(
    spec: TargetSpec,
    rows: Sequence[Row],
    wl: Workload,
    fractions: dict[str, float],
    gpu_seen: bool,
) -> Target:
    pattern = spec.contender or ""
    row, _ = _pick(pattern, rows, spec.on)
    where = f" {spec.on.upper()}" if spec.on else ""
    value = None if row is None else fractions.get(row.name)
    why_missing = _not_run(spec, gpu_seen, [(pattern, row)])
    if row is not None and value is None:
        why_missing = f"no matmul rate measured for {row.library}"
    elif row is not None and value is not None and value > 1:
        value, why_missing = None, f"the {row.library} matmul rate was measured too low"
    return Target(
        f"{wl.name}{where}: {_side_label(pattern, row)}, "
        "fraction of the measured float32 matmul rate",
        value,
        _bound(spec),
        higher_is_better=spec.higher_is_better,
        unit="%",
        why_missing=why_missing,
        why=spec.why,
    )


def _bound(spec: TargetSpec) -> float:
    """``spec.limit`` of a kind that has a bound (the reader requires ``max`` or ``min`` there)."""
    limit = spec.limit
    if limit is None:
        raise TargetsError(f"a {spec.kind!r} target needs a max or a min; give one")
    return limit


def _memory_target(spec: TargetSpec, rows: Sequence[Row], wl: Workload) -> Target | None:
    row = next((r for r in rows if r.name == spec.contender), None)
    if row is None or row.rise is None or row.extrapolated:
        return None
    mb = 2**20
    factor, extra = spec.data_factor or 0.0, spec.extra_mb or 0.0
    return Target(
        f"memory: {row.name} peak RSS rise over 'import xpnet' (limit {factor:g} x "
        f"{wl.data_bytes / mb:.0f} MB data + {extra:g} MB)",
        row.rise / mb,
        factor * wl.data_bytes / mb + extra,
        unit="MB",
        why=spec.why,
    )


def _startup_target(spec: TargetSpec, st: dict) -> Target:
    if spec.kind == "import_time":
        return Target(
            f"start-up: 'import xpnet' / 'import numpy', whole process "
            f"({st['xpnet']:.3f} s / {st['numpy']:.3f} s)",
            st["xpnet"] / st["numpy"],
            _bound(spec),
            why=spec.why,
        )
    heavy = st["heavy"]
    return Target(
        f"start-up: heavy modules ({', '.join(st['probed'])}) loaded by 'import xpnet'"
        + (f" [{', '.join(heavy)}]" if heavy else ""),
        float(len(heavy)),
        _bound(spec),
        unit="count",
        why=spec.why,
    )
