"""What array-api-extra 0.11.5's suite fails on array-api-strict's device1, reproduced without pytest.

xpbridge's ``array_api_strict-device1`` run makes every array of a test on
``device1`` (array-api-extra's own suite makes them on the default device
and uses ``device1`` only in its ``test_device`` tests).  Of the 51 tests
that fail there, 35 are array-api-extra's own bugs (the first two cases
here) and 8 a limitation its suite already skips on GPUs (the third); the
other 8 are its test code's assumptions, explained in docs/testing.md
("What the array-api-extra run shows").

    python examples/downstream/adopted/array_api_extra/device1_reproducers.py

Each case prints what it raises; a fixed release prints ``fixed``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_extra as xpx
import array_api_strict as xp

DEVICE1 = xp.Device("device1")


def at_min_with_a_python_scalar() -> Any:
    """34 tests (test_at.py: test_update_ops, test_copy_default, test_incompatible_dtype).

    ``at(x)[i].min(y)`` / ``.max(y)`` with a Python scalar ``y`` builds ``y``
    as an array on the default device and combines it with ``x``.
    """
    x = xp.asarray([1.0, 5.0], device=DEVICE1)
    return xpx.at(x)[0].min(2.0)


def setdiff1d_of_empty_arrays() -> Any:
    """1 test (test_set.py: TestSetDiff1D::test_setdiff1d).

    ``setdiff1d`` of two empty arrays concatenates them with an array made
    on the default device.
    """
    empty = xp.asarray([], dtype=xp.int64, device=DEVICE1)
    return xpx.setdiff1d(empty, empty)


def lazy_apply_as_numpy_off_the_cpu() -> Any:
    """8 tests (test_lazy.py: the as_numpy=True cases).

    ``lazy_apply(..., as_numpy=True)`` converts with ``np.asarray``, which a
    device other than the CPU refuses.  The suite skips these cases for
    CuPy and torch on a GPU ("device->host copy"); device1 is the same case.
    """
    x = xp.asarray([1.0, 5.0], device=DEVICE1)
    return xpx.lazy_apply(lambda a: a + 1, x, as_numpy=True)


CASES: list[Callable[[], Any]] = [
    at_min_with_a_python_scalar,
    setdiff1d_of_empty_arrays,
    lazy_apply_as_numpy_off_the_cpu,
]


def main() -> None:
    """Run every case and print what it raises."""
    print(f"array-api-extra {xpx.__version__}, array-api-strict {xp.__version__}")
    for case in CASES:
        try:
            case()
        except Exception as e:  # noqa: BLE001 - what each raises is the point
            print(f"{case.__name__}: {type(e).__name__}: {e}")
        else:
            print(f"{case.__name__}: fixed")


if __name__ == "__main__":
    main()
