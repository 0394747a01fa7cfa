"""Thread-safe first use: detection, fast paths, the plan cache and plugin loading.

Each scenario runs in a fresh interpreter, because "first use" happens once per
process: a test in this process would only see a warm registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.rule("thread-safe-first-use"), pytest.mark.subprocess]

THREADS = 8


def _run(code: str, tmp_path: Path | None = None) -> dict[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, int] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_conversions_while_another_thread_imports_torch() -> None:
    # Before: "AttributeError: partially initialized module 'torch'" from the
    # fast-path priming, which read torch.Tensor while torch was importing.
    result = _run(f"""
        import json, sys, threading, time
        import numpy as np, xpbridge as xb
        errors, count = [], [0]
        importing = threading.Event()
        done = threading.Event()
        def importer():
            importing.set()
            import torch
            done.set()
        def converter():
            importing.wait()
            a = np.arange(4.0)
            while True:
                finished = done.is_set()
                try:
                    r = xb.to_numpy(a)
                    assert r is a
                    xb.plan(a, "numpy")
                    count[0] += 1
                except Exception as e:
                    errors.append(repr(e))
                if finished:
                    break
                time.sleep(0.0002)  # let the importer run: torch imports in ~1 s alone
        threads = [threading.Thread(target=converter) for _ in range({THREADS})]
        threads.append(threading.Thread(target=importer))
        for t in threads: t.start()
        for t in threads: t.join()
        t = xb.to_torch(np.arange(3.0))  # the fast path works once torch is in
        assert t.tolist() == [0.0, 1.0, 2.0]
        print(json.dumps({{"conversions": count[0], "errors": len(errors), "first": errors[:1]}}))
    """)
    print(f"{THREADS} threads converting while torch imports: {result}")
    assert result["errors"] == 0, result
    assert result["conversions"] >= THREADS


def test_many_threads_make_their_first_conversion_at_once() -> None:
    result = _run(f"""
        import json, threading
        import numpy as np, torch, array_api_strict as xps
        import xpbridge as xb
        try:
            import jax.numpy as jnp
        except ImportError:  # JAX has left NumPy 1.26 behind
            jnp = None
        barrier = threading.Barrier({THREADS})
        errors, count = [], [0]
        sources = [
            lambda: (np.arange(4.0), "torch"),
            lambda: (torch.arange(4.0), "numpy"),
            lambda: (np.arange(4.0)[::-1], "torch"),
            lambda: (xps.asarray([1.0, 2.0]), "numpy"),
            lambda: (xps.asarray([1.0, 2.0]), "torch"),
            lambda: ([1.0, 2.0], "array_api_strict"),
        ]
        if jnp is not None:
            sources += [
                lambda: (np.arange(4.0, dtype=np.float32), jnp),
                lambda: (jnp.arange(4.0), "torch"),
            ]
        def worker(i):
            barrier.wait()
            for round in range(200):
                x, to = sources[(i + round) % len(sources)]()
                try:
                    p = xb.plan(x, to)
                    r = xb.convert(x, to)
                    assert p.aliases is xb.shares_memory(x, r)
                    count[0] += 1
                except Exception as e:
                    errors.append(repr(e))
        threads = [threading.Thread(target=worker, args=(i,)) for i in range({THREADS})]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps({{"conversions": count[0], "errors": len(errors), "first": errors[:1]}}))
    """)
    print(f"{THREADS} threads, first conversions at once: {result}")
    assert result == {"conversions": THREADS * 200, "errors": 0, "first": []}


PLUGIN = """
import sys, time
from typing import ClassVar
import numpy as np
from xpbridge.backends import Backend, Device, Traits

time.sleep(0.3)  # a slow plugin import: the other threads arrive meanwhile

class SlowBackend(Backend):
    name: ClassVar[str] = "slowarray"
    readonly_arrays = True
    exchanges = {("slowarray", "numpy"): "to_numpy"}

    def owns(self, cls):
        module = sys.modules.get("slowarray")
        return module is not None and issubclass(cls, module.SlowArray)

    def traits(self, x):
        return Traits("slowarray", "float64")

    def holds(self, dtype):
        return dtype == "float64"

    def device_of(self, x):
        return Device("cpu")

    def step_to_numpy(self, x, plan):
        return x.values
"""


def test_entry_point_plugins_load_once_for_concurrent_first_users(tmp_path: Path) -> None:
    # Before: three of four threads got UnsupportedInputError, because the group
    # was marked loaded before the plugin's import had finished.
    (tmp_path / "slowarray.py").write_text(
        "import numpy as np\nclass SlowArray:\n"
        "    def __init__(self, v): self.values = np.asarray(v, dtype=np.float64)\n"
    )
    (tmp_path / "slowarray_xpbridge.py").write_text(PLUGIN)
    info = tmp_path / "slowarray_xpbridge-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: slowarray-xpbridge\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(
        "[xpbridge.backends]\nslowarray = slowarray_xpbridge:SlowBackend\n"
    )
    result = _run(
        f"""
        import json, sys, threading
        sys.path.insert(0, ".")
        import numpy as np, slowarray, xpbridge as xb
        barrier = threading.Barrier({THREADS})
        errors, count = [], [0]
        def worker():
            x = slowarray.SlowArray([1.0, 2.0])
            barrier.wait()
            try:
                assert xb.to_numpy(x).tolist() == [1.0, 2.0]
                count[0] += 1
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=worker) for _ in range({THREADS})]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps({{"conversions": count[0], "errors": len(errors), "first": errors[:1]}}))
        """,
        tmp_path,
    )
    print(f"{THREADS} threads loading an entry-point plugin: {result}")
    assert result == {"conversions": THREADS, "errors": 0, "first": []}
