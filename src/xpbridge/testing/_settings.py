"""What a suite tells the pytest plugin about itself: :class:`XPSettings`.

A project returns one from the ``pytest_xp_settings`` hook in its
``conftest.py``.  Everything in it is configuration of the plugin's own
machinery (which namespace ``xp`` is, what the suite's markers and backend
names mean), so adopting the plugin changes a conftest and no test.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import ArgumentError
from ._backends import check_token

__all__ = ["MARKER_ACTIONS", "XPSettings", "alias_tokens"]

# The plugin's markers, which a suite's own marker names may stand for.
MARKER_ACTIONS = ("xp_skip", "xp_xfail")


def _as_tokens(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(t.strip() for t in value if t.strip())


@dataclass(frozen=True)
class XPSettings:
    """How a test suite's conftest configures the xpbridge pytest plugin.

    Return one from a ``pytest_xp_settings(config)`` hook in the
    ``conftest.py`` at the root of the suite.

    Parameters
    ----------
    backends : str or sequence of str, optional
        The backends this suite runs on when neither ``--xp-backends`` nor
        ``XPBRIDGE_XP_BACKENDS`` chooses (names or ids, as for
        :func:`~xpbridge.testing.xp_backends`).  Default: every installed
        backend that runs by default.
    array_api_compat : str, optional
        The module name of the array-api-compat the suite's code uses, when
        it vendors its own (``"scipy._external.array_api_compat"``,
        ``"sklearn.externals.array_api_compat"``): NumPy's, torch's, CuPy's
        and Dask's ``xp`` then come from it, so namespace checks written
        against that copy hold.
    markers : mapping of str to str, optional
        The suite's own marker names and the plugin marker each stands for
        (``{"skip_xp_backends": "xp_skip", "xfail_xp_backends": "xp_xfail"}``).
        Such markers take the same arguments as ``xp_skip`` / ``xp_xfail``.
    aliases : mapping, optional
        What the suite's markers call backends, when not by xpbridge's names:
        a key (a string, or any hashable such as an enum member) and the
        backend names or ids it stands for.  An empty value marks a backend
        the suite covers some other way (with its own fixtures, say): markers
        naming it are accepted and do nothing.
    backend_marks : mapping of str to sequence of marks, optional
        Marks every test gets on a backend (a name or an id), such as
        ``pytest.mark.thread_unsafe`` where the suite's set-up changes
        process-wide state.

    Raises
    ------
    ArgumentError
        If a backend name or id is unknown, or a marker stands for something
        other than ``xp_skip`` or ``xp_xfail``.

    Examples
    --------
    >>> settings = XPSettings(
    ...     backends="numpy,torch-cpu,dask",
    ...     markers={"skip_xp_backends": "xp_skip"},
    ...     aliases={"sparse": ()},
    ... )
    >>> settings.markers["skip_xp_backends"]
    'xp_skip'
    >>> XPSettings(markers={"skip_xp_backends": "skip"})
    Traceback (most recent call last):
    ...
    xpbridge.errors.ArgumentError: XPSettings(markers): skip_xp_backends stands for 'skip'; a marker stands for xp_skip or xp_xfail
    """

    backends: str | Sequence[str] | None = None
    array_api_compat: str | None = None
    markers: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[Hashable, str | Sequence[str]] = field(default_factory=dict)
    backend_marks: Mapping[str, Sequence[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for token in _as_tokens(self.backends):
            check_token(token, "XPSettings(backends)")
        for name, action in self.markers.items():
            if action not in MARKER_ACTIONS:
                raise ArgumentError(
                    f"XPSettings(markers): {name} stands for {action!r}; "
                    f"a marker stands for xp_skip or xp_xfail"
                )
        for key, value in self.aliases.items():
            for token in _as_tokens(value):
                check_token(token, f"XPSettings(aliases[{key!r}])")
        for token in self.backend_marks:
            check_token(token, "XPSettings(backend_marks)")


def alias_tokens(settings: XPSettings, key: object) -> tuple[str, ...] | None:
    """The backend tokens an alias stands for (``()``: inert), or None when ``key`` is none."""
    try:
        value = settings.aliases[key]
    except (KeyError, TypeError):  # not an alias, or not hashable
        return None
    return _as_tokens(value)
