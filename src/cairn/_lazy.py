"""Module attributes loaded on first use (PEP 562), so importing a package stays cheap.

A package lists the names it re-exports lazily and the module each comes from; the first
access imports that module and caches the value in the package's namespace::

    __getattr__, __dir__ = lazy_attributes(__name__, {"gc": "cairn.catalog._gc"}, __all__)

Type checkers and IDEs see the names through an ``if TYPE_CHECKING:`` import block beside it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(
    package: str, lazy: dict[str, str], public: Iterable[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return a module ``__getattr__`` and ``__dir__`` that load ``lazy``'s names on demand."""
    names = sorted(set(public) | set(lazy))

    def __getattr__(name: str) -> Any:
        source = lazy.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(source), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
