"""Alignment by the consumer's rule: no dtype at any offset crashes a consumer.

NumPy aligns complex numbers to their parts, torch to the whole item; an alias
at NumPy's alignment crashed torch on its first ``clone()``.  This sweep makes
every crossing dtype at every byte offset 0..15 (aligned for NumPy or not),
converts it to each library with every copy mode, then clones it and does
arithmetic with it.  It runs in a subprocess per target, so a crash fails the
test instead of killing the run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.rule("alignment-sweep"), pytest.mark.subprocess]

SWEEP = """
import json, sys, warnings
warnings.simplefilter("error")
import numpy as np
import xpbridge as xb
from xpbridge._lib.dtypes import DTYPES, numpy_dtype
from xpbridge.testing import assert_bitwise_equal

target = sys.argv[1]
if target == "torch":
    import torch
    def use(r):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "ComplexHalf support", UserWarning)
            c = r.clone()
            if r.dtype.is_floating_point or r.dtype.is_complex:
                if r.element_size() > 1 and r.dtype != torch.complex32:  # no kernels for these
                    (c + c).sum()
                    r.mul(1)
            return c
elif target == "array_api_strict":
    import array_api_strict as xp
    def use(r):
        c = xp.asarray(r, copy=True)
        if xp.isdtype(r.dtype, ("real floating", "complex floating")):
            xp.sum(c + c)
        return c
else:
    import jax.numpy as jnp
    def use(r):
        c = jnp.array(r, copy=True)
        if jnp.issubdtype(r.dtype, jnp.inexact):
            (c + c).sum().block_until_ready()
        return c

names = [n for n in xb.dtypes() if DTYPES[n].host is not None]
tried = converted = refused = 0
raw = []
for name in names:
    try:
        dtype = numpy_dtype(name)
    except (ImportError, AttributeError):
        continue  # an ml_dtypes type this ml_dtypes lacks
    if dtype.itemsize * 8 != DTYPES[name].bits:
        continue  # sub-byte ml_dtypes types: a byte per value, never crossing
    for offset in range(16):
        block = np.zeros(dtype.itemsize * 8 + 64, dtype=np.uint8)
        start = (-block.__array_interface__["data"][0]) % 64 + offset
        a = block[start : start + 6 * dtype.itemsize].view(dtype)
        a[...] = np.arange(6).astype(np.float32).astype(dtype)
        for copy in (None, True, False):
            tried += 1
            print(name, offset, copy, file=sys.stderr, flush=True)  # the last case, on a crash
            try:
                r = xb.convert(a, target, copy=copy)
            except xb.ConversionError:
                refused += 1
                continue
            except Exception as e:
                raw.append(f"{name}@{offset} copy={copy}: {e!r}")
                continue
            use(r)
            assert_bitwise_equal(xb.to_numpy(r), a)
            converted += 1
print(json.dumps({"tried": tried, "converted": converted, "refused": refused, "raw": raw}))
"""


@pytest.mark.parametrize("target", ["torch", "array_api_strict", "jax"])
def test_no_dtype_at_any_offset_crashes(target: str) -> None:
    pytest.importorskip(
        {"torch": "torch", "array_api_strict": "array_api_strict"}.get(target, "jax")
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SWEEP), target],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    last = done.stderr.strip().splitlines()[-1:] if done.stderr else []
    assert done.returncode == 0, (
        f"crashed or failed ({done.returncode}) at {last}: {done.stderr[-2000:]}"
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["raw"] == []  # every refusal is a documented error
    assert result["tried"] >= 16 * 3 * 10 and result["converted"] > 0
    print(target, result)
