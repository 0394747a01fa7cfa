"""The one memo type of the pipeline, and the one place that knows every memo.

Speed comes from remembering what the pipeline decided (a request resolved,
a source described, a plan compiled), never from a second copy of its
rules.  Every memo is a :class:`Memo`: a dict with one bounding policy
(cleared whole when it reaches its limit; a cleared entry is only computed
again), registered here under a name, with what it is keyed by and what
invalidates it, so that:

- :func:`clear_all` forgets everything (tests; and every registration that
  changes what the pipeline would decide: a backend registered or replaced,
  a container registered);
- :func:`inventory` lists them (the docs and a test read it).

Threads: a dict's single reads and writes are atomic in CPython and every
thread computes the same value for a key, so memos take no lock; a race
computes a value twice.

Keys that are classes never keep a class alive: a class its module holds
by name (``numpy.ndarray``, a namedtuple defined at module level) lives as
long as its module anyway and is a key as it is; any other class (made at
run time, local to a function) is keyed by a weak reference to it, which
dies with the class.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, ParamSpec, TypeVar

__all__ = ["Memo", "MemoInfo", "clear_all", "importable", "inventory", "memoised", "on_clear"]

V = TypeVar("V")
P = ParamSpec("P")

# Held weakly: a memo that belongs to a backend object (a namespace's dtype
# names) leaves the list with it.
_REGISTERED: weakref.WeakSet[Memo[Any]] = weakref.WeakSet()
_ON_CLEAR: list[Callable[[], None]] = []


class MemoInfo(NamedTuple):
    """One row of the memo inventory."""

    name: str
    key: str
    limit: int
    invalidated_by: str


class Memo(Generic[V]):
    """A bounded memo: a plain dict, cleared whole when it reaches ``limit``.

    Parameters
    ----------
    name, key : str
        What it remembers and what it is keyed by (for :func:`inventory`).
    limit : int
        How many entries it holds before it starts again.
    by_type : bool
        Keys are classes: held strongly only when their module holds them
        by name (:func:`importable`), else through a weak reference.
    register : bool
        List it in the inventory and clear it in :func:`clear_all`
        (per-request memos are reached through their request instead).

    Examples
    --------
    >>> m = Memo("squares", "an int", 2, register=False)
    >>> m.put(3, 9), m.get(3), m.get(4)
    (9, 9, None)
    >>> _ = m.put(4, 16), m.put(5, 25)  # the third entry starts it again
    >>> len(m)
    1
    """

    __slots__ = ("__weakref__", "by_type", "data", "key", "limit", "name")

    def __init__(
        self,
        name: str,
        key: str,
        limit: int = 1024,
        *,
        by_type: bool = False,
        register: bool = True,
    ) -> None:
        self.name, self.key, self.limit, self.by_type = name, key, limit, by_type
        # Hot paths read this dict directly (``memo.data.get(key)``): it is
        # cleared in place, never replaced.
        self.data: dict[Any, V] = {}
        if register:
            _REGISTERED.add(self)

    def get(self, key: Any) -> V | None:
        """The value for ``key``, or None."""
        value = self.data.get(key)
        if value is None and self.by_type and not importable(key):
            value = self.data.get(weakref.ref(key))
        return value

    def put(self, key: Any, value: V) -> V:
        """Remember ``value`` for ``key`` (bounded) and return it."""
        data = self.data
        if len(data) >= self.limit:
            data.clear()
        if self.by_type and not importable(key):
            key = weakref.ref(key)
        data[key] = value
        return value

    def clear(self) -> None:
        """Forget every entry."""
        self.data.clear()

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"Memo({self.name!r}, {len(self.data)}/{self.limit})"


def memoised(name: str, key: str, limit: int = 1024) -> Callable[[Callable[P, V]], Callable[P, V]]:
    """Remember a pure function's results in a registered :class:`Memo`.

    The function's arguments are the key (one positional argument: itself);
    the memo is the wrapper's ``memo`` attribute.  For functions off the hot
    path (a spec file, a probe, a cast NumPy allows): hot paths read a memo's
    dict inline instead, where one call less is measurable.

    Examples
    --------
    >>> @memoised("doubles", "an int")
    ... def double(n: int) -> int:
    ...     return 2 * n
    >>> double(4), 4 in double.memo  # type: ignore[attr-defined]
    (8, True)
    """

    def decorate(compute: Callable[P, V]) -> Callable[P, V]:
        memo: Memo[V] = Memo(name, key, limit)

        @functools.wraps(compute)
        def remembered(*args: P.args, **kwargs: P.kwargs) -> V:
            found_key: Any = args[0] if len(args) == 1 and not kwargs else args
            if kwargs:
                found_key = (args, tuple(sorted(kwargs.items())))
            found = memo.data.get(found_key)
            if found is None:
                found = memo.put(found_key, compute(*args, **kwargs))
            return found

        remembered.memo = memo  # type: ignore[attr-defined]
        return remembered

    return decorate


def importable(cls: type) -> bool:
    """Whether ``cls`` is what its module holds under its qualified name.

    Such a class lives as long as its module: holding it as a key keeps
    nothing alive that would otherwise die.

    Examples
    --------
    >>> import collections
    >>> importable(collections.OrderedDict), importable(type("Made", (), {}))
    (True, False)
    """
    module = sys.modules.get(getattr(cls, "__module__", None) or "")
    found: Any = module
    for part in str(getattr(cls, "__qualname__", "<locals>")).split("."):
        found = getattr(found, part, None)
    return found is cls and module is not None


def on_clear(forget: Callable[[], None]) -> None:
    """Also call ``forget`` whenever :func:`clear_all` runs (state that is not a memo)."""
    _ON_CLEAR.append(forget)


def clear_all() -> None:
    """Forget what every memo holds.

    Called when a registration changes what the pipeline decides (a backend
    registered or replaced, a container registered), and by tests.
    """
    for memo in list(_REGISTERED):
        memo.clear()
    for forget in _ON_CLEAR:
        forget()


INVALIDATED_BY = (
    "register_backend, register_container and clear_all (each clears every memo); "
    "a full memo is cleared whole"
)


def inventory() -> list[MemoInfo]:
    """Every registered memo: its name, key, bound and what invalidates it.

    Examples
    --------
    >>> import xpbridge._api.convert  # loads the pipeline
    >>> "requests by spelling" in {m.name for m in inventory()}
    True
    """
    rows = {m.name: MemoInfo(m.name, m.key, m.limit, INVALIDATED_BY) for m in list(_REGISTERED)}
    return sorted(rows.values())  # one row per name: backends of one namespace share theirs
