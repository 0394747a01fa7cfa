"""From a test's markers to pytest's skip and xfail marks, one backend at a time.

Markers are read from the collected item, so those on the test, its class,
its module and its ``pytest.param(..., marks=...)`` entry all count.  They
are:

- ``xp_skip(*backends, reason=..., np_only=..., cpu_only=..., eager_only=...,
  exceptions=...)`` and ``xp_xfail(..., strict=True)``, and the suite's own
  markers that :class:`~xpbridge.testing.XPSettings` says stand for them;
- ``xp_functions(*functions)``: the declarations of the functions a test
  tests (:func:`~xpbridge.testing.capabilities`).

A backend is named by its name (every device), its id (one device), a
name with a device type (``torch-cuda``: every CUDA device), a module name
(``jax.numpy``), or an alias of the suite's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import ArgumentError
from ._backends import MODULE_NAMES, XPBackend, parse_token
from ._capabilities import Capabilities, declared
from ._settings import XPSettings, alias_tokens

__all__ = ["CATEGORIES", "Rule", "dtype_skip", "rules_for"]

CATEGORIES = ("np_only", "cpu_only", "eager_only")
_DEFAULT_REASONS = {
    "np_only": "not run on backends other than NumPy",
    "cpu_only": "not run on devices other than the CPU",
    "eager_only": "not run on lazy backends",
}
_ALLOWED = {
    "xp_skip": {"reason", "exceptions", *CATEGORIES},
    "xp_xfail": {"reason", "strict", "exceptions", *CATEGORIES},
}


@dataclass(frozen=True)
class Rule:
    """One skip or xfail: the backends it names, or a category less its exceptions."""

    action: str  # "xp_skip" or "xp_xfail"
    tokens: tuple[str, ...]
    category: str | None
    exceptions: tuple[str, ...]
    reason: str
    strict: bool

    def applies(self, backend: XPBackend) -> bool:
        """Whether the rule covers this backend."""
        if self.category is None:
            return any(_matches(t, backend) for t in self.tokens)
        if any(_matches(t, backend) for t in self.exceptions):
            return False
        if self.category == "np_only":
            return backend.library != "numpy"
        if self.category == "cpu_only":
            return not backend.cpu
        return backend.lazy is not None  # eager_only

    def reason_for(self, backend: XPBackend) -> str:
        """The reason pytest shows, prefixed by the backend id."""
        reason = self.reason or (_DEFAULT_REASONS[self.category] if self.category else "")
        return f"{backend.id}: {reason}" if reason else backend.id


def _matches(token: str, backend: XPBackend) -> bool:
    name, device = parse_token(token)
    if name != backend.name:
        return False
    label = backend.device_label
    return device is None or device == label or device == label.partition(":")[0]


def _resolve(value: object, settings: XPSettings, where: str) -> tuple[str, ...]:
    """The backend tokens a marker argument stands for (``()``: a backend the suite covers itself)."""
    aliased = alias_tokens(settings, value)
    if aliased is not None:
        return aliased
    if isinstance(value, str):
        if value in MODULE_NAMES:
            return MODULE_NAMES[value]
        try:
            parse_token(value)
        except ArgumentError as e:
            raise ArgumentError(
                f"{where}: {e}; a backend xpbridge does not provide can be declared "
                f"with XPSettings(aliases={{{value!r}: ()}})"
            ) from None
        return (value,)
    raise ArgumentError(
        f"{where}: {value!r} is not a backend name; map it to one with XPSettings(aliases={{...}})"
    )


def _rule(
    action: str, args: tuple[Any, ...], kwargs: dict[str, Any], settings: XPSettings, where: str
) -> Rule | None:
    extra = set(kwargs) - _ALLOWED[action]
    if extra:
        raise ArgumentError(
            f"{where} takes backend names or ids and "
            f"{', '.join(sorted(_ALLOWED[action]))}=, not {sorted(extra)}"
        )
    categories = [c for c in CATEGORIES if kwargs.get(c)]
    if len(categories) > 1 or (categories and args):
        raise ArgumentError(
            f"{where}: give backends, or one of {', '.join(CATEGORIES)}=True, not both"
        )
    if not categories and not args:
        raise ArgumentError(f"{where}: name a backend, or one of {', '.join(CATEGORIES)}=True")
    if kwargs.get("exceptions") and not categories:  # exceptions=None is SciPy's "none"
        raise ArgumentError(f"{where}: exceptions= goes with {', '.join(CATEGORIES)}=True")
    exceptions: tuple[str, ...] = ()
    for value in kwargs.get("exceptions") or ():
        exceptions += _resolve(value, settings, where)
    tokens: tuple[str, ...] = ()
    for value in args:
        tokens += _resolve(value, settings, where)
    if args and not tokens:
        return None  # only backends the suite covers with its own fixtures: inert
    return Rule(
        action,
        tokens,
        categories[0] if categories else None,
        exceptions,
        str(kwargs.get("reason") or ""),
        bool(kwargs.get("strict", True)),
    )


def _declared_rules(function: Any, declaration: Capabilities) -> Iterable[Rule]:
    name = getattr(function, "__name__", repr(function))
    for action, pairs in (("xp_skip", declaration.skip), ("xp_xfail", declaration.xfail)):
        for token, reason in pairs:
            tokens = MODULE_NAMES.get(token, (token,))
            yield Rule(action, tokens, None, (), reason or f"{name} is declared unsupported", True)
    for category in CATEGORIES:
        if getattr(declaration, category):
            exceptions: tuple[str, ...] = ()
            for token in declaration.exceptions:
                exceptions += MODULE_NAMES.get(token, (token,))
            reason = declaration.reason or f"{name}: {_DEFAULT_REASONS[category]}"
            yield Rule("xp_skip", (), category, exceptions, reason, True)


def rules_for(item: Any, settings: XPSettings) -> list[Rule]:
    """Every skip and xfail rule of a collected test.

    Raises
    ------
    ArgumentError
        For a marker with unknown backends or arguments, or a function in
        ``xp_functions`` that has no declaration.
    """
    names = {"xp_skip": "xp_skip", "xp_xfail": "xp_xfail", **settings.markers}
    rules: list[Rule] = []
    for marker_name, action in names.items():
        for marker in item.iter_markers(marker_name):
            where = f"{item.nodeid}: {marker_name}"
            rule = _rule(action, tuple(marker.args), dict(marker.kwargs), settings, where)
            if rule is not None:
                rules.append(rule)
    for function in functions_of(item):
        declaration = declared(function)
        if declaration is None:
            raise ArgumentError(
                f"{item.nodeid}: xp_functions names {getattr(function, '__name__', function)!r}, "
                f"which has no declaration: decorate it with @xpbridge.testing.capabilities(...)"
            )
        rules += _declared_rules(function, declaration)
    return rules


def functions_of(item: Any) -> list[Any]:
    """The functions named by a test's ``xp_functions`` markers."""
    return [f for marker in item.iter_markers("xp_functions") for f in marker.args]


def _dtype_name(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        import numpy as np

        return str(np.dtype(value).name)
    except TypeError:
        return str(value).rpartition(".")[2]


def dtype_skip(item: Any, backend: XPBackend) -> str | None:
    """Why a test parametrised by a dtype skips on this backend (None: it runs).

    A parameter counts as a dtype when its name is ``dtype`` or ends in
    ``_dtype`` / starts with ``dtype_``, and only tests with ``xp_functions``
    markers are concerned.  It skips when a function named there does not
    declare that dtype, or when the backend's device cannot hold 64-bit
    floats (array-api-strict's ``no_float64`` and ``no_x64``).
    """
    callspec = getattr(item, "callspec", None)
    functions = functions_of(item)
    if callspec is None or not functions:
        return None
    wanted = [
        _dtype_name(v)
        for k, v in callspec.params.items()
        if k == "dtype" or k.endswith("_dtype") or k.startswith("dtype_")
    ]
    if not wanted:
        return None
    for function in functions:
        declaration = declared(function)
        if declaration is None or declaration.dtypes is None:
            continue
        for name in wanted:
            if name not in declaration.dtypes:
                fname = getattr(function, "__name__", repr(function))
                return f"{backend.id}: {fname} does not take {name}"
    if backend.capabilities["float64"] is False:
        for name in wanted:
            if name in {"float64", "complex128"}:
                return f"{backend.id}: the device holds no {name}"
    return None
