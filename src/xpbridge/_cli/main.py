"""The ``xpbridge`` command line (also ``python -m xpbridge``).

Every sub-command works on every install: with NumPy alone it shows and
checks what NumPy can do, and says what torch would add.  Exit status: 0 when
all holds, 1 when xpbridge breaks its contract (``report``) or the conversion
asked about would raise (``explain``), 2 for a usage error.  Bad input is
answered with a message, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
What xpbridge does on this machine: the versions it sees, a demonstration,
the plan for any source you can describe, and its contract checked against
the installed NumPy and torch."""

EPILOG = """\
exit status: 0 all holds, 1 the contract is violated (report) or the
conversion would raise (explain), 2 a usage error.

examples:
  %(prog)s info
  %(prog)s demo
  %(prog)s explain "float32[::-1]" --to torch --copy false
  %(prog)s report --format markdown -o report.md"""

EXPLAIN_EPILOG = """\
A description is [LIBRARY:]DTYPE[(SHAPE)][INDEX][.T] [FLAG ...]
  LIBRARY  numpy (default), torch, or an installed array-API library
  DTYPE    a canonical name (xpbridge.dtypes()); for NumPy also NumPy's names
  SHAPE    default (4,); () is 0-d
  INDEX    NumPy's basic indexing: [::-1], [:, ::2], [1:], [None]
flags:
{flags}
  cuda, cuda:N, meta          (torch) the device the tensor lives on
shorthands: {presets}

examples:
  %(prog)s "float32[::-1]" --to torch --copy false
  %(prog)s "float64(3, 4).T readonly" --to torch
  %(prog)s "torch:float32 requires-grad" --to numpy --grad raise
  %(prog)s torch:bfloat16 --to numpy --copy false

exit status: 0 the conversion would succeed, 1 it would raise (the error is
printed), 2 a usage error."""


def _prog() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return "python -m xpbridge" if name in {"", "__main__.py", "-c"} else name


def _dtype(text: str) -> str:
    from .._lib.dtypes import DTYPES

    if text not in DTYPES:
        raise argparse.ArgumentTypeError(f"unknown dtype {text!r}: known are {', '.join(DTYPES)}")
    return text


def _report_dtype(text: str) -> str:
    from .report import report_dtypes

    name = _dtype(text)
    if name not in report_dtypes():
        raise argparse.ArgumentTypeError(
            f"{name} is not in the report's matrix, which covers the dtypes that cross "
            f"NumPy <-> torch with the ml_dtypes installed here: {', '.join(report_dtypes())}"
        )
    return name


# ---------------------------------------------------------------- commands


def info(args: argparse.Namespace) -> int:
    """Print versions, devices, backends and the dtypes that cross."""
    import xpbridge

    from .._lib.environment import OPTIONAL, installed, versions

    found = versions()
    print(f"{'xpbridge':<17} {xpbridge.__version__}")
    print(f"{'python':<17} {sys.version.split()[0]}")
    for module in OPTIONAL:
        print(f"{module:<17} {found.get(module, 'not installed')}")
    from .._lib.dtypes import crossing_dtypes
    from ..backends.registry import list_backends

    for name, origin in list_backends().items():
        print(f"{'backend':<17} {name} ({origin})")
    crossing = crossing_dtypes()
    if installed("torch"):
        import torch

        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        print(f"{'cuda':<17} {cuda} device(s)")
        print(f"{'dtypes':<17} {len(crossing)} cross NumPy <-> torch: {', '.join(crossing)}")
    else:
        print(f"{'dtypes':<17} NumPy <-> NumPy only: torch is not installed")
        print(f"{'':<17} (pip install 'xpbridge[torch]' for NumPy <-> torch)")
    return 0


def demo(args: argparse.Namespace) -> int:
    """Show the main job in a few conversions."""
    from .demo import demo as run

    run()
    return 0


COPY = {"none": None, "true": True, "false": False}


def _keywords(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "copy": COPY[args.copy],
        "dtype": args.dtype,
        "device": args.device,
        "grad": args.grad,
        "requires_grad": args.requires_grad,
    }


def _default_target(source: Any) -> str:
    from .._lib.environment import installed

    library = type(source).__module__.partition(".")[0]
    if library == "numpy":
        return "torch" if installed("torch") else "numpy"
    return "numpy"


def _plan_one(args: argparse.Namespace) -> object:
    """The plan for one described source."""
    import xpbridge as xb

    from .examples import example

    source = example(args.description)
    return xb.plan(source, args.to or _default_target(source), **_keywords(args))


def _plan_tree(args: argparse.Namespace) -> object:
    """The tree plan for a JSON tree of described sources."""
    import xpbridge as xb

    from .examples import example_tree

    tree = example_tree(args.tree)
    return xb.plan_tree(tree, args.to or "numpy", **_keywords(args))


def explain(args: argparse.Namespace) -> int:
    """Print the plan for a described source, or the error converting it would raise."""
    import xpbridge as xb

    from .examples import DescriptionError

    if (args.description is None) == (args.tree is None):
        return _usage_error(args, "describe one source, or give --tree JSON (not both)")
    planner: Callable[[argparse.Namespace], object] = _plan_tree if args.tree else _plan_one
    try:
        print(planner(args))
    except (DescriptionError, xb.ArgumentError) as e:
        return _usage_error(args, str(e))
    except xb.ConversionError as e:
        print(f"{type(e).__name__}: {e}")
        return 1
    return 0


def report(args: argparse.Namespace) -> int:
    """Run the conformance report; exit status 1 when xpbridge breaks its contract."""
    from .report import render, run_report

    result = run_report(args.dtype, not args.no_facts, progress=sys.stderr)
    text = render(result, args.format)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as f:
                f.write(text)
        except OSError as e:
            return _usage_error(args, f"cannot write {args.output}: {e.strerror}")
        if args.format != "text":
            text = render(result, "text")
        print(text, end="")
        print(f"{args.format} report written to {args.output}")
    else:
        print(text, end="")
    return 1 if result.violations else 0


def _usage_error(args: argparse.Namespace, message: str) -> int:
    print(f"{args.prog}: error: {message}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------ parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: one sub-command per job, help for every option."""
    from .examples import FLAGS, PRESETS
    from .report import FORMATS

    prog = prog or _prog()
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter
    )
    from .. import __version__

    parser.add_argument(
        "--version", action="version", version=f"xpbridge {__version__}", help="print the version"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="one of:"
    )

    def command(
        name: str, run: Callable[[argparse.Namespace], int], summary: str, **kw: Any
    ) -> Any:
        sub = commands.add_parser(
            name, help=summary, description=summary, formatter_class=formatter, **kw
        )
        sub.set_defaults(run=run, prog=f"{prog} {name}")
        return sub

    command("info", info, "Print versions, devices, backends and the dtypes that cross.")
    command(
        "demo",
        demo,
        "Show the main job in a few conversions (NumPy only, or NumPy <-> torch).",
    )

    flags = "\n".join(f"  {name:<27} ({flag.library}) {flag.help}" for name, flag in FLAGS.items())
    ex = command(
        "explain",
        explain,
        "Print the plan for a source you describe: its steps, whether it shares "
        "memory, and why it copies, or the error converting it would raise.",
        epilog=EXPLAIN_EPILOG.format(flags=flags, presets=", ".join(PRESETS)),
    )
    ex.add_argument(
        "description", nargs="?", help="the source, e.g. 'float32[::-1]' (syntax below)"
    )
    ex.add_argument(
        "--tree",
        metavar="JSON",
        help="explain a whole tree: JSON whose strings are descriptions, e.g. "
        '\'{"w": "float32[::-1]", "b": "torch:float32 requires-grad"}\' (default --to numpy)',
    )
    ex.add_argument(
        "--to",
        metavar="LIBRARY",
        help="target library (default: torch for NumPy sources when installed, else numpy)",
    )
    ex.add_argument(
        "--copy",
        choices=list(COPY),
        default="none",
        help="none: share when possible (default); true: always copy; false: never copy",
    )
    ex.add_argument("--dtype", type=_dtype, help="cast to this canonical dtype name")
    ex.add_argument("--device", help="target device: cpu, cuda, cuda:1")
    ex.add_argument(
        "--grad",
        choices=["detach", "raise"],
        default="detach",
        help="leaving autograd: detach (default) or raise GradError",
    )
    ex.add_argument(
        "--requires-grad", action="store_true", help="ask for a result that requires grad"
    )

    rep = command(
        "report",
        report,
        "Check the contract on this machine: every source x target x dtype x layout x "
        "copy mode over the installed libraries, and the upstream facts of spec/, each "
        "next to what spec/ expects.",
    )
    rep.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text for a terminal (default), markdown or json for CI artefacts",
    )
    rep.add_argument(
        "--output", "-o", metavar="FILE", help="write the report to FILE; print a summary"
    )
    rep.add_argument(
        "--dtype",
        action="append",
        type=_report_dtype,
        metavar="NAME",
        help="check only this dtype (repeatable; default: every dtype that crosses)",
    )
    rep.add_argument("--no-facts", action="store_true", help="skip observing the upstream facts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``xpbridge report | head``): stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return status


if __name__ == "__main__":
    raise SystemExit(main())
