"""One registry pattern for the whole library.

Experiments, models, data sets and benchmarks are all registered the same way (timm's
``register_model`` / ``create_model`` shape):

    MODELS = Registry("model")

    @MODELS.register
    def mlp(...): ...

    MODELS.names("m*")          # sorted names matching a glob
    MODELS.create("mlp", ...)   # look up and call

A duplicate name is an error; an unknown name raises ``UnknownNameError`` that lists the close
matches. Entries of a registry live in modules of one package, imported on first use
(``package=``), so adding an entry never means editing a central list.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import pkgutil
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the close matches."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if len(known) <= 40 else f"{len(known)} names; see `deltalab list`"
        self.message = f"unknown {kind} {name!r}.{hint} Known: {listing}."
        self.suggestions = close
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def import_submodules(package: str) -> None:
    """Import every module of ``package`` (recursively) so that their registrations run."""
    pkg = importlib.import_module(package)
    for info in pkgutil.walk_packages(pkg.__path__, prefix=f"{package}."):
        importlib.import_module(info.name)


class Registry(Generic[T]):
    """Name → entry. ``package`` is imported (all submodules) the first time names are read."""

    def __init__(self, kind: str, package: str | None = None) -> None:
        self.kind = kind
        self.package = package
        self._entries: dict[str, T] = {}
        self._loaded = package is None

    def add(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, fn: Callable[..., Any] | None = None, *, name: str | None = None) -> Any:
        """Decorator: register ``fn`` under ``name`` (default: its name, ``_`` → ``-``)."""

        def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(name or f.__name__.replace("_", "-"), f)  # type: ignore[arg-type]
            return f

        return wrap(fn) if fn is not None else wrap

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            import_submodules(self.package)  # type: ignore[arg-type]

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, sorted(self._entries)) from None

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        return self.get(name)(*args, **kwargs)  # type: ignore[operator]

    def names(self, pattern: str = "*") -> list[str]:
        self._load()
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)
