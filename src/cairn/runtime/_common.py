"""What task runs and flow runs share: parameter summaries, failures, retry delays."""

from __future__ import annotations

import inspect
import reprlib
from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

from cairn.runtime import _context
from cairn.runtime._futures import (
    is_trackable,
)

__all__ = [
    "COMPAT_OPTIONS",
    "P",
    "R",
    "failure_state",
    "link_result",
    "retry_delay",
    "signature_of",
    "summarize_parameters",
]

P = ParamSpec("P")
R = TypeVar("R")

_repr = reprlib.Repr()
_repr.maxstring = 200
_repr.maxother = 200
_PARAM_REPR_MAX = 200

# Options cairn accepts for compatibility with Prefect code but that have nothing to act on:
# cairn keeps no task results and no task cache.
COMPAT_OPTIONS = ("persist_result", "cache_policy", "log_prints", "result_storage")


def summarize_parameters(
    sig: inspect.Signature | None, args: Sequence[Any], kwargs: dict[str, Any]
) -> dict[str, str]:
    """Return each bound parameter's ``repr``, cut to 200 characters (for run records)."""
    if sig is None:
        return {}
    try:
        bound = sig.bind_partial(*args, **kwargs)
    except TypeError:
        return {}
    out = {}
    for name, value in bound.arguments.items():
        try:
            text = _repr.repr(value)
        except Exception:  # a broken __repr__ must not fail the run
            text = f"<{type(value).__name__}>"
        out[name] = text if len(text) <= _PARAM_REPR_MAX else text[: _PARAM_REPR_MAX - 3] + "..."
    return out


def signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    """Return ``fn``'s signature, or None for a callable that has none (a builtin, say)."""
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def failure_state(exc: BaseException) -> tuple[str, str]:
    """Return the final state an exception leaves (``Failed``, or ``Crashed``) and a message."""
    state = "Failed" if isinstance(exc, Exception) else "Crashed"
    return state, f"{type(exc).__name__}: {exc}"


def retry_delay(delays: float | Sequence[float], attempt: int) -> float:
    """Return the seconds to wait before retry ``attempt`` (a list gives one per attempt)."""
    if isinstance(delays, (int, float)):
        return float(delays)
    if not delays:
        return 0.0
    return float(delays[min(attempt, len(delays) - 1)])


def link_result(flow: _context.FlowRunContext, run_id: str, result: Any) -> None:
    """Remember which task run returned ``result`` and its direct parts (Prefect's rule)."""
    parts = [result]
    if isinstance(result, dict):
        parts.extend(result.values())
    elif isinstance(result, (list, tuple, set, frozenset)):
        parts.extend(result)
    with flow.lock:
        for part in parts:
            if is_trackable(part):
                flow.result_links[id(part)] = (run_id, part)
