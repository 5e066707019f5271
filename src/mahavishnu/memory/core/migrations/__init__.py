"""Named, append-only schema migrations (the sqlite-utils way), one list per backend.

A migration is a function registered in order; its name is recorded in the database in the same
transaction that runs it, so a crash leaves it either fully applied or not at all. Never edit or
reorder a released migration: append a new one. A database holding a name this code does not know
was migrated by a newer Mahavishnu, and is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from mahavishnu.errors import MigrationError

Conn = TypeVar("Conn")


@dataclass(frozen=True, slots=True)
class Migration(Generic[Conn]):
    name: str
    apply: Callable[[Conn], None]


class Migrations(Generic[Conn]):
    """An ordered registry: decorate functions with an instance to append them."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self._items: list[Migration[Conn]] = []

    def __call__(self, fn: Callable[[Conn], None]) -> Callable[[Conn], None]:
        name = fn.__name__.lstrip("_")
        if any(m.name == name for m in self._items):
            raise ValueError(f"duplicate migration name {name}")
        self._items.append(Migration(name, fn))
        return fn

    def __iter__(self) -> Iterator[Migration[Conn]]:
        return iter(self._items)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self._items]

    def pending(self, applied: Iterable[str]) -> list[Migration[Conn]]:
        """Migrations still to run; refuses a database that knows migrations we don't."""
        done = set(applied)
        unknown = sorted(done - set(self.names))
        if unknown:
            raise MigrationError(
                f"this {self.backend} store was migrated by a newer Mahavishnu (unknown migrations: "
                f"{', '.join(unknown)})",
                hint="Upgrade Mahavishnu to open it; nothing was changed.",
            )
        return [m for m in self._items if m.name not in done]
