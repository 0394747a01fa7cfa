"""``python -m xpbridge``: what xpbridge does on this machine.

Commands: ``info`` (versions and capabilities), ``demo`` (the main job in a
few conversions), ``explain`` (the plan for a described case).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence


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


def explain(case: str, target: str, copy: str) -> None:
    """Print the plan for a small described case."""
    import numpy as np

    import xpbridge as xb

    cases = {
        "reversed": np.arange(4.0, dtype=np.float32)[::-1],
        "contiguous": np.arange(4.0, dtype=np.float32),
        "readonly": np.frombuffer(bytes(16), dtype=np.float32),
        "big-endian": np.arange(4.0, dtype=">f4"),
    }
    modes = {"none": None, "true": True, "false": False}
    try:
        print(xb.plan(cases[case], target, copy=modes[copy]))
    except xb.ConversionError as e:
        print(f"{type(e).__name__}: {e}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(prog="python -m xpbridge", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("info", help="versions and capabilities")
    commands.add_parser("demo", help="the main job in a few conversions")
    ex = commands.add_parser("explain", help="the plan for a described case")
    ex.add_argument("case", choices=["reversed", "contiguous", "readonly", "big-endian"])
    ex.add_argument("--to", default="torch")
    ex.add_argument("--copy", choices=["none", "true", "false"], default="none")
    args = parser.parse_args(argv)
    if args.command == "info":
        info()
    elif args.command == "demo":
        demo()
    else:
        explain(args.case, args.to, args.copy)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
