"""One voice for the command line: the missing-library message and did-you-mean.

Every command says a missing library the same way, ``jax is not installed
here: pip install 'xpbridge[jax]'`` (the extra when xpbridge has one, else
the distribution), and every unknown name it reads (a library, a dtype, a
flag, a choice, a command) comes with the closest known names, from
:mod:`difflib`, compared without regard to case.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ..errors import EXTRAS, install_line

__all__ = [
    "EXTRAS",
    "did_you_mean",
    "install_hint",
    "library_problem",
    "not_installed",
    "target_libraries",
]

# Libraries a conversion can target besides the registered backends, by import
# name, when they are installed (the array-API namespaces the README names).
ARRAY_LIBRARIES = ("numpy", "torch", "array_api_strict", "jax", "dask", "cupy")


def install_hint(library: str) -> str:
    """The command that installs ``library``: through xpbridge's extra when it has one."""
    return install_line(library)


def not_installed(library: str) -> str:
    """The one message for a library that is not installed."""
    return f"{library.partition('.')[0]} is not installed here: {install_hint(library)}"


def _abbreviates(word: str, name: str) -> bool:
    """``np`` for ``numpy``: the same first letter, and the rest in order."""
    letters = iter(name)
    return word[:1] == name[:1] and all(char in letters for char in word)


def did_you_mean(word: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    """`` (did you mean 'x'?)`` for the known names closest to ``word``, or ``""``.

    The closest by :class:`difflib.SequenceMatcher` (ties within 0.1 of the
    best), else the names ``word`` abbreviates, compared without regard to case.
    """
    by_folded: dict[str, str] = {}
    for name in known:
        by_folded.setdefault(name.casefold(), name)
    folded = word.casefold()
    scores = {
        name: difflib.SequenceMatcher(None, folded, name).ratio()
        for name in difflib.get_close_matches(folded, list(by_folded), n=3, cutoff=cutoff)
    }
    if scores:
        best = max(scores.values())
        close = [name for name, score in scores.items() if score >= best - 0.1]
    else:
        close = [name for name in by_folded if len(folded) > 1 and _abbreviates(folded, name)]
    if not close:
        return ""
    return f" (did you mean {' or '.join(repr(by_folded[c]) for c in close[:3])}?)"


def target_libraries() -> list[str]:
    """Every name ``to=`` can take by name here: the backends and the array libraries."""
    from ..backends.registry import list_backends

    return sorted({*list_backends(), *ARRAY_LIBRARIES})


def library_problem(name: str) -> str | None:
    """Why ``name`` cannot be a library here (not installed, or unknown), or None."""
    from .._lib.environment import installed
    from ..backends.registry import list_backends

    origin = list_backends().get(name)
    if origin is not None and origin != "built-in":  # protocols and registered backends
        return None
    if installed(name.partition(".")[0]):
        return None
    if name in ARRAY_LIBRARIES or name in EXTRAS:
        return not_installed(name)
    known = target_libraries()
    return (
        f"unknown library {name!r}{did_you_mean(name, known)}: known are "
        f"{', '.join(known)}, and any installed array-API namespace"
    )
