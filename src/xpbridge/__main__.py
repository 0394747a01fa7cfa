"""``python -m xpbridge``: what xpbridge does on this machine.

Commands: ``info`` (versions, devices, capabilities), ``report`` (the
conformance matrix and the upstream facts on this machine), ``explain`` (the
plan for a described case, in words), ``demo`` (the main job in a few
conversions).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any


def _version(module: str) -> str:
    try:
        return str(importlib.import_module(module).__version__)
    except ImportError:
        return "not installed"


def info() -> None:
    """Print versions and what this machine can do."""
    import xpbridge

    print(f"xpbridge    {xpbridge.__version__}")
    print(f"python      {sys.version.split()[0]}")
    for module in ("numpy", "torch", "ml_dtypes", "array_api_compat"):
        print(f"{module:<11} {_version(module)}")
    try:
        import torch
    except ImportError:
        return
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    print(f"cuda        {cuda} device(s)")
    from ._dtypes import crossing_dtypes
    from ._registry import list_backends

    crossing = crossing_dtypes()
    for name, origin in list_backends().items():
        print(f"backend     {name} ({origin})")
    print(f"dtypes      {len(crossing)} cross NumPy <-> torch: {', '.join(crossing)}")


def demo() -> None:
    """Show the main job: zero-copy when possible, safe copies and clear errors otherwise."""
    import numpy as np
    import torch

    import xpbridge as xb

    a = np.arange(4, dtype=np.float32)
    t = xb.to_torch(a)
    t[0] = 10.0
    print(f"to_torch(a) shares memory: a[0] is now {a[0]}")
    print(xb.plan(a[::-1], "torch"))
    try:
        xb.to_torch(a[::-1], copy=False)
    except xb.CopyError as e:
        print(f"CopyError: {e}")
    w = torch.ones(3, requires_grad=True)
    view = xb.to_numpy(w)
    print(f"to_numpy(requires-grad tensor): read-only view, writeable={view.flags.writeable}")
    z = torch.tensor([1 + 2j]).conj().imag
    print(f"negative bit resolved: to_numpy(x.conj().imag) = {xb.to_numpy(z)}")
    try:
        b = torch.tensor([1.5, 2.5], dtype=torch.bfloat16)
        n = xb.to_numpy(b)
        print(f"bfloat16 -> NumPy zero-copy: dtype={n.dtype}, shares={xb.shares_memory(b, n)}")
    except xb.DTypeError as e:
        print(f"DTypeError: {e}")


def explain(case: str, target: str | None, copy: str) -> None:
    """Print the plan for a small described case."""
    import numpy as np

    import xpbridge as xb

    cases: dict[str, Any] = {
        "reversed": np.arange(4.0, dtype=np.float32)[::-1],
        "contiguous": np.arange(4.0, dtype=np.float32),
        "readonly": np.frombuffer(bytes(16), dtype=np.float32),
        "big-endian": np.arange(4.0, dtype=">f4"),
        "bfloat16-tensor": None,
        "requires-grad": None,
    }
    if case in {"bfloat16-tensor", "requires-grad"}:
        import torch

        cases["bfloat16-tensor"] = torch.ones(3, dtype=torch.bfloat16)
        cases["requires-grad"] = torch.ones(3, requires_grad=True)
    modes = {"none": None, "true": True, "false": False}
    source = cases[case]
    target = target or ("numpy" if type(source).__module__.startswith("torch") else "torch")
    try:
        print(xb.plan(source, target, copy=modes[copy]))
    except xb.ConversionError as e:
        print(f"{type(e).__name__}: {e}")


def report(
    fmt: str, output: str | None, dtypes: list[str] | None = None, facts: bool = True
) -> int:
    """Run the conformance report; exit status 1 when xpbridge breaks its contract."""
    from ._report import print_progress, render, run_report

    result = run_report(print_progress, dtypes, facts)
    text = render(result, fmt)
    if output:
        with open(output, "w") as f:
            f.write(text)
        print(render(result, "text") if fmt != "text" else text, end="")
        print(f"{fmt} report written to {output}")
    else:
        print(text, end="")
    return 1 if result.violations else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(prog="python -m xpbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions and capabilities")
    commands.add_parser("demo", help="the main job in a few conversions")
    rep = commands.add_parser("report", help="the conformance matrix and upstream facts here")
    rep.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    rep.add_argument("--output", "-o", help="write the report to this file")
    rep.add_argument("--dtype", action="append", help="limit the matrix to these dtypes")
    rep.add_argument("--no-facts", action="store_true", help="skip observing the upstream facts")
    ex = commands.add_parser("explain", help="the plan for a described case")
    ex.add_argument(
        "case",
        choices=[
            "reversed",
            "contiguous",
            "readonly",
            "big-endian",
            "bfloat16-tensor",
            "requires-grad",
        ],
    )
    ex.add_argument("--to", default=None, help="target library (default: the other one)")
    ex.add_argument("--copy", choices=["none", "true", "false"], default="none")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    elif args.command == "demo":
        demo()
    elif args.command == "report":
        return report(args.format, args.output, args.dtype, not args.no_facts)
    else:
        explain(args.case, args.to, args.copy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
