"""One declaration per function under test: the backends, devices and dtypes it supports.

:func:`capabilities` decorates a function of the library being tested (it
returns the function itself and imports nothing).  From that one source:

- tests marked with :func:`xp_functions` (``@xp_functions(f)``, the marker
  ``xp_functions``) are skipped or xfailed where ``f`` is declared
  unsupported, and skipped for dtype parameters ``f`` does not take;
- on the lazy backends (``dask``, ``jax-jit``) the plugin runs ``f``
  lazily inside each test of a module that imports it: Dask may compute
  only ``allow_dask_compute`` times, JAX traces it under ``jax.jit``;
- :func:`capabilities_table` renders the support table for the docs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .._lib.dtypes import DTYPES
from ..errors import ArgumentError
from ._backends import KINDS, MODULE_NAMES, check_token, parse_token

__all__ = ["Capabilities", "capabilities", "capabilities_table", "declared", "xp_functions"]

F = TypeVar("F", bound=Callable[..., Any])

# function -> its declaration.  Keyed by the object itself: ufuncs and other
# callables without a __dict__ can be declared too.
_DECLARED: dict[Any, Capabilities] = {}


@dataclass(frozen=True)
class Capabilities:
    """What one function under test supports (see :func:`capabilities`)."""

    skip: tuple[tuple[str, str], ...] = ()
    xfail: tuple[tuple[str, str], ...] = ()
    np_only: bool = False
    cpu_only: bool = False
    eager_only: bool = False
    exceptions: tuple[str, ...] = ()
    reason: str = ""
    dtypes: tuple[str, ...] | None = None
    allow_dask_compute: bool | int = False
    jax_jit: bool = True

    def dask_computes(self) -> int | None:
        """How many times Dask may compute inside one call (None: without limit)."""
        if self.allow_dask_compute is True:
            return None
        return int(self.allow_dask_compute)


def _pairs(value: Mapping[str, str] | Sequence[str], what: str) -> tuple[tuple[str, str], ...]:
    items = value.items() if isinstance(value, Mapping) else ((v, "") for v in value)
    pairs = tuple((str(token), str(reason)) for token, reason in items)
    for token, _ in pairs:
        check_token(token, f"capabilities({what}=...)")
    return pairs


def capabilities(
    *,
    skip: Mapping[str, str] | Sequence[str] = (),
    xfail: Mapping[str, str] | Sequence[str] = (),
    np_only: bool = False,
    cpu_only: bool = False,
    eager_only: bool = False,
    exceptions: Sequence[str] = (),
    reason: str = "",
    dtypes: Sequence[str] | None = None,
    allow_dask_compute: bool | int = False,
    jax_jit: bool = True,
) -> Callable[[F], F]:
    """Declare which backends, devices and dtypes a function supports.

    A decorator for the functions of the library under test, in the spirit
    of SciPy's ``xp_capabilities``: one declaration drives the tests' skip
    and xfail marks (through ``@pytest.mark.xp_functions(f)``), the lazy
    runs on Dask and ``jax.jit``, and the table in the docs
    (:func:`capabilities_table`).  It returns the function unchanged.

    Parameters
    ----------
    skip, xfail : mapping of str to str, or sequence of str, optional
        Backends (names such as ``"jax"``, ids such as ``"torch-cuda:0"``)
        where the function is not supported (tests skip) or known to fail
        (tests xfail), each with its reason.
    np_only : bool, default False
        Only NumPy arrays (and read-only ones) are supported.
    cpu_only : bool, default False
        Only arrays in host memory (no GPU, no ``meta``).
    eager_only : bool, default False
        Not on the lazy backends (``dask``, ``jax-jit``).
    exceptions : sequence of str, optional
        Backends ``np_only`` / ``cpu_only`` / ``eager_only`` leave alone.
    reason : str, default ""
        Why, for the three categories above.
    dtypes : sequence of str, optional
        The canonical dtype names it takes; a test parametrised by a
        ``dtype`` argument skips the others.  Default: any.
    allow_dask_compute : bool or int, default False
        How many times one call may make Dask compute (True: any).
    jax_jit : bool, default True
        Whether it runs under ``jax.jit`` on the ``jax-jit`` backend.

    Returns
    -------
    callable
        A decorator that records the declaration and returns the function.

    Raises
    ------
    ArgumentError
        For an unknown backend or dtype name.

    Examples
    --------
    >>> from xpbridge.testing import capabilities
    >>> @capabilities(skip={"jax": "writes in place"}, dtypes=["float32", "float64"])
    ... def center(x):
    ...     x -= x.mean()
    ...     return x
    >>> print(capabilities_table(center, backends=["numpy", "jax", "dask"]))
    | function | numpy | jax | dask | dtypes |
    |---|---|---|---|---|
    | center | yes | no | yes | float32, float64 |
    """
    if dtypes is not None:
        unknown = [d for d in dtypes if d not in DTYPES]
        if unknown:
            raise ArgumentError(
                f"capabilities(dtypes=...): unknown dtype names {unknown}: use canonical "
                f"names such as 'float32'"
            )
    for token in exceptions:
        check_token(token, "capabilities(exceptions=...)")
    declaration = Capabilities(
        skip=_pairs(skip, "skip"),
        xfail=_pairs(xfail, "xfail"),
        np_only=np_only,
        cpu_only=cpu_only,
        eager_only=eager_only,
        exceptions=tuple(exceptions),
        reason=reason,
        dtypes=None if dtypes is None else tuple(dtypes),
        allow_dask_compute=allow_dask_compute,
        jax_jit=jax_jit,
    )

    def record(function: F) -> F:
        _DECLARED[function] = declaration
        return function

    return record


def xp_functions(*functions: Any) -> Any:
    """The marker saying which declared functions a test tests.

    ``@xp_functions(f, g)`` on a test, a class, a module's ``pytestmark``
    or a ``pytest.param(..., marks=...)`` entry: the plugin skips and
    xfails each run as the :func:`capabilities` declarations of ``f`` and
    ``g`` say.  (Spelled ``pytest.mark.xp_functions.with_args(f)`` by hand:
    pytest takes ``pytest.mark.xp_functions(f)`` with one function for the
    decoration of ``f`` itself.)

    Parameters
    ----------
    functions : callable, any number
        Functions declared with :func:`capabilities`.

    Returns
    -------
    pytest.MarkDecorator
        The ``xp_functions`` marker with the functions as its arguments.

    Raises
    ------
    ArgumentError
        If a function has no declaration.

    Examples
    --------
    >>> from xpbridge.testing import capabilities, xp_functions
    >>> @capabilities(np_only=True)
    ... def f(x):
    ...     return x
    >>> @xp_functions(f)
    ... def test_f(xp):
    ...     pass
    >>> test_f.pytestmark[0].args == (f,)
    True
    """
    import pytest

    for function in functions:
        if declared(function) is None:
            raise ArgumentError(
                f"xp_functions: {getattr(function, '__name__', function)!r} has no declaration: "
                f"decorate it with @xpbridge.testing.capabilities(...)"
            )
    return pytest.mark.xp_functions.with_args(*functions)


def declared(function: Any) -> Capabilities | None:
    """The declaration of ``function``, or None when it has none."""
    try:
        return _DECLARED.get(function)
    except TypeError:  # an unhashable object
        return None


def _names(tokens: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for token in tokens:
        if token in MODULE_NAMES:
            out.update(MODULE_NAMES[token])
        else:
            name, device = parse_token(token)
            if device is None:
                out.add(name)
    return out


def _cell(declaration: Capabilities, name: str) -> str:
    kind = KINDS[name]
    if name in _names([t for t, _ in declaration.skip]):
        return "no"
    if name in _names([t for t, _ in declaration.xfail]):
        return "no (known failure)"
    excepted = name in _names(declaration.exceptions)
    if declaration.np_only and kind.library != "numpy" and not excepted:
        return "no"
    if declaration.eager_only and kind.lazy and not excepted:
        return "no"
    notes = []
    if declaration.cpu_only and not excepted:
        if kind.library == "cupy":
            return "no"
        if kind.library in {"torch", "jax"}:
            notes.append("CPU only")
    if kind.lazy == "dask" and declaration.allow_dask_compute:
        notes.append("computes")
    if kind.lazy == "jit" and not declaration.jax_jit:
        notes.append("not jitted")
    return "yes: " + ", ".join(notes) if notes else "yes"


def capabilities_table(*functions: Any, backends: Sequence[str] | None = None) -> str:
    """The support table of declared functions, as Markdown: one row each.

    Parameters
    ----------
    functions : callable, any number
        Functions declared with :func:`capabilities`, one row each.
    backends : sequence of str, optional
        The backend names to show as columns.  Default: every backend name
        the plugin knows.

    Returns
    -------
    str
        A Markdown table: ``yes``, ``no``, ``no (known failure)``, or
        ``yes:`` with notes: ``CPU only`` (not on a GPU or ``meta``),
        ``computes`` (Dask computes inside), ``not jitted`` (runs eagerly on
        ``jax-jit``); and the dtypes column.

    Raises
    ------
    ArgumentError
        If a function has no declaration, or a backend name is unknown.

    Examples
    --------
    >>> from xpbridge.testing import capabilities
    >>> @capabilities(cpu_only=True, allow_dask_compute=1, reason="calls NumPy")
    ... def solve(a, b):
    ...     return a
    >>> print(capabilities_table(solve, backends=["numpy", "torch", "dask", "cupy"]))
    | function | numpy | torch | dask | cupy | dtypes |
    |---|---|---|---|---|---|
    | solve | yes | yes: CPU only | yes: computes | no | any |
    """
    columns = list(KINDS) if backends is None else list(backends)
    unknown = [c for c in columns if c not in KINDS]
    if unknown:
        raise ArgumentError(
            f"capabilities_table: unknown backend names {unknown}: the names are {', '.join(KINDS)}"
        )
    lines = [
        "| function | " + " | ".join(columns) + " | dtypes |",
        "|" + "---|" * (len(columns) + 2),
    ]
    for function in functions:
        declaration = declared(function)
        if declaration is None:
            raise ArgumentError(
                f"{getattr(function, '__name__', function)!r} has no declaration: "
                f"decorate it with @xpbridge.testing.capabilities(...)"
            )
        dtypes = ", ".join(declaration.dtypes) if declaration.dtypes is not None else "any"
        cells = [_cell(declaration, name) for name in columns]
        name = getattr(function, "__name__", repr(function))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {dtypes} |")
    return "\n".join(lines)
