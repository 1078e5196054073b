"""Named registries (model adapters, SAE architectures, SAE importers).

Each registry maps a stable string name to an object, refuses duplicate names, and
answers an unknown name with a "did you mean" and the valid choices.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import GenointerpError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table; ``kind`` names the entries in messages (``"model adapter"``)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: file the decorated object under ``name``."""

        def wrap(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"a {self.kind} named {name!r} is already registered")
            self._entries[name] = entry
            return entry

        return wrap

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str) -> T:
        """The entry called ``name``; an unknown name raises :class:`GenointerpError`."""
        if name not in self._entries:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise GenointerpError(
                f"unknown {self.kind} {name!r}. Fix: {hint}choose one of {', '.join(self.names())}"
            )
        return self._entries[name]
