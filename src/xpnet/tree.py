"""Nests of arrays (lists and tuples, such as an MLP's params): flatten, rebuild, map."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["flatten", "unflatten", "tree_map"]


def flatten(tree: Any) -> tuple[list, Any]:
    """Leaves of a nest of lists/tuples (None leaves kept), and what ``unflatten`` needs."""
    if isinstance(tree, (list, tuple)):
        leaves: list = []
        shapes = []
        for item in tree:
            sub, spec = flatten(item)
            leaves.extend(sub)
            shapes.append((len(sub), spec))
        return leaves, (type(tree), shapes)
    return [tree], None


def unflatten(spec: Any, leaves: list) -> Any:
    """Rebuild the nest described by ``spec`` from ``leaves`` (inverse of ``flatten``)."""
    if spec is None:
        return leaves[0]
    kind, shapes = spec
    out, start = [], 0
    for count, sub in shapes:
        out.append(unflatten(sub, leaves[start : start + count]))
        start += count
    return kind(out)


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leafwise to one or more nests of the same structure."""
    leaves, spec = flatten(tree)
    others = [flatten(t)[0] for t in rest]
    return unflatten(spec, [fn(*args) for args in zip(leaves, *others, strict=True)])
