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
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from .libraries import did_you_mean, install_hint, library_problem, not_installed

__all__ = ["build_parser", "main"]

T = TypeVar("T")

DESCRIPTION = """\
What xpbridge does on this machine: the versions it sees, a demonstration,
the plan for any source you can describe, and its contract checked over
every pair of installed libraries."""

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
limits: a description has at most 1,000 characters and describes at most
16,777,216 elements (256 MiB): a plan depends on the dtype and the layout,
not on the size. A --tree is at most 64 levels deep, with 1,000 leaves.

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


# ------------------------------------------------------------ reading arguments
#
# Every argument that is more than a word is read by an argparse type built
# with _reads, so that argparse reports its problems: a message and exit
# status 2.  Reading a description builds an array and reading a tree parses
# JSON, and whatever goes wrong there (a DescriptionError, but also a
# RecursionError from a deeply nested expression or a MemoryError) is the
# user's input, never a traceback.  The readers bound what they build first
# (examples.MAX_ELEMENTS, MAX_TREE_DEPTH, ...), so that the input cannot
# exhaust the machine before it fails.


# How NumPy, torch and the other libraries refuse to build what a description asks
# for (RecursionError is a RuntimeError, OverflowError an ArithmeticError).
_REFUSALS = (
    ValueError,
    TypeError,
    ArithmeticError,
    LookupError,
    AttributeError,
    RuntimeError,
    OSError,
)


def _reads(read: Callable[[str], T], what: str) -> Callable[[str], T]:
    """An argparse type that turns every failure of ``read`` into a usage error."""

    def convert(text: str) -> T:
        from .examples import DescriptionError

        try:
            return read(text)
        except argparse.ArgumentTypeError:
            raise
        except DescriptionError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        except RecursionError:
            raise argparse.ArgumentTypeError(f"the {what} is nested too deeply to read") from None
        except MemoryError:
            raise argparse.ArgumentTypeError(
                f"the {what} is too large to build on this machine"
            ) from None
        except _REFUSALS as e:  # a library refusing to build what the input asks for
            raise argparse.ArgumentTypeError(
                f"cannot read the {what} {_short(text)}: {type(e).__name__}: {e}"
            ) from None

    convert.__name__ = what  # argparse names a type by it in its own messages
    return convert


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _choice(*options: str) -> Callable[[str], str]:
    """An argparse type for a choice, read without regard to case (``--copy False``)."""

    def choose(text: str) -> str:
        folded = text.strip().casefold()
        if folded in options:
            return folded
        raise argparse.ArgumentTypeError(
            f"invalid choice: {_short(text)}{did_you_mean(text, options)} "
            f"(choose from {', '.join(options)})"
        )

    return choose


def _read_dtype(text: str) -> str:
    from .._lib.dtypes import DTYPES

    name = text.strip()
    if name in DTYPES:
        return name
    if name.casefold() in DTYPES:  # the canonical names are lower case
        return name.casefold()
    raise argparse.ArgumentTypeError(
        f"unknown dtype {_short(text)}{did_you_mean(name, DTYPES)}: known are {', '.join(DTYPES)}"
    )


def _read_report_dtype(text: str) -> str:
    from .report import report_dtypes

    name = _read_dtype(text)
    if name not in report_dtypes():
        raise argparse.ArgumentTypeError(
            f"{name} is not in the report's matrix, which covers the dtypes that cross "
            f"NumPy <-> torch with the ml_dtypes installed here: {', '.join(report_dtypes())}"
        )
    return name


def _read_report_library(text: str) -> str:
    """One of the report's libraries, a choice read in any case."""
    from .report import LIBRARIES, libraries

    name = text.strip().casefold()
    if name not in LIBRARIES:
        raise argparse.ArgumentTypeError(
            f"{_short(text)} is not in the report's matrix{did_you_mean(text, LIBRARIES)}: "
            f"it covers {', '.join(LIBRARIES)} (those installed)"
        )
    if name not in libraries():
        raise argparse.ArgumentTypeError(not_installed(name))
    return name


def _read_library(text: str) -> str:
    name = text.strip()
    problem = library_problem(name)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return name


def _read_description(text: str) -> Any:
    from .examples import example

    return example(text)


def _read_tree(text: str) -> Any:
    from .examples import example_tree

    return example_tree(text)


# ---------------------------------------------------------------- commands


def info(args: argparse.Namespace) -> int:
    """Print what is usable here: versions, backends, devices, the dtypes that cross.

    A library that is not installed is not listed as if it were: its backend
    is left out, and the last line says what to install for it.
    """
    import xpbridge

    from .._lib.environment import OPTIONAL, installed, versions
    from .libraries import ARRAY_LIBRARIES

    found = versions()
    print(f"{'xpbridge':<17} {xpbridge.__version__}")
    print(f"{'python':<17} {sys.version.split()[0]}")
    for module in OPTIONAL:
        if module in found:
            print(f"{module:<17} {found[module]}")
    from .._lib.dtypes import crossing_dtypes
    from ..backends.registry import list_backends

    listed = list_backends()
    for name, origin in listed.items():
        if origin != "built-in" or installed(name):
            print(f"{'backend':<17} {name} ({origin})")
    for name in ARRAY_LIBRARIES:  # namespaces get a backend when first seen
        if name not in listed and installed(name):
            print(f"{'backend':<17} {name} (array API)")
    crossing = crossing_dtypes()
    if installed("torch"):
        import torch

        cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
        print(f"{'cuda':<17} {cuda} device(s)")
        print(f"{'dtypes':<17} {len(crossing)} cross NumPy <-> torch: {', '.join(crossing)}")
    missing = [module for module in OPTIONAL if module not in found]
    for index, module in enumerate(missing):
        heading = "not installed" if index == 0 else ""
        print(f"{heading:<17} {module:<17} {install_hint(module)}")
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


EXPLAIN_NOTHING = """nothing to explain: describe a source, or give a tree of them, e.g.
  {prog} "float32[::-1]" --to torch
  {prog} "torch:float32 requires-grad" --grad raise
  {prog} --tree '{{"w": "float32[::-1]", "b": "torch:float32"}}'
({prog} --help lists the description syntax and its flags)"""


def explain(args: argparse.Namespace) -> int:
    """Print the plan for a described source, or the error converting it would raise."""
    import xpbridge as xb

    if args.description is None and args.tree is None:
        args.parser.print_usage(sys.stderr)
        return _usage_error(args, EXPLAIN_NOTHING.format(prog=args.prog))
    if args.description is not None and args.tree is not None:
        return _usage_error(args, "give one description or --tree JSON, not both")
    try:
        if args.tree is not None:
            planned: object = xb.plan_tree(args.tree, args.to or "numpy", **_keywords(args))
        else:
            source = args.description
            planned = xb.plan(source, args.to or _default_target(source), **_keywords(args))
    except xb.ArgumentError as e:
        return _usage_error(args, str(e))
    except xb.ConversionError as e:
        print(f"{type(e).__name__}: {e}")
        return 1
    print(planned)
    return 0


# What `-o FILE` writes when --format is not given, by the file's extension.
FORMAT_OF_EXTENSION = {".md": "markdown", ".markdown": "markdown", ".json": "json"}


def report(args: argparse.Namespace) -> int:
    """Run the conformance report; exit status 1 when xpbridge breaks its contract.

    With ``-o FILE`` the report goes to the file, in the format its extension
    names unless --format says otherwise, and the terminal gets a summary.
    """
    from .report import render, run_report, summary

    fmt = args.format
    if fmt is None:
        suffix = os.path.splitext(args.output or "")[1].casefold()
        fmt = FORMAT_OF_EXTENSION.get(suffix, "text")
    result = run_report(args.dtype, not args.no_facts, progress=sys.stderr, only=args.library)
    text = render(result, fmt)
    if not args.output:
        print(text, end="")
        return 1 if result.violations else 0
    try:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as e:
        return _usage_error(args, f"cannot write {args.output}: {e.strerror}")
    print(summary(result), end="")
    print(f"{fmt} report written to {args.output}")
    return 1 if result.violations else 0


def _usage_error(args: argparse.Namespace, message: str) -> int:
    print(f"{args.prog}: error: {message}", file=sys.stderr)
    return 2


# ------------------------------------------------------------------ parser


class _Parser(argparse.ArgumentParser):
    """argparse, with the closest command suggested for a mistyped one."""

    def error(self, message: str) -> NoReturn:
        wrong = re.match(r"argument COMMAND: invalid choice: '([^']*)'", message)
        commands = getattr(self, "commands", ())
        if wrong is not None and commands:
            message = (
                f"unknown command {wrong[1]!r}{did_you_mean(wrong[1], commands)}: "
                f"the commands are {', '.join(commands)}"
            )
        super().error(message)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The argument parser: one sub-command per job, help for every option."""
    from .examples import FLAGS, PRESETS
    from .report import FORMATS, LIBRARIES

    prog = prog or _prog()
    formatter = argparse.RawDescriptionHelpFormatter
    parser = _Parser(prog=prog, description=DESCRIPTION, epilog=EPILOG, formatter_class=formatter)
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
        sub.set_defaults(run=run, prog=f"{prog} {name}", parser=sub)
        return sub

    command("info", info, "Print what is usable here: versions, backends, the dtypes that cross.")
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
        "description",
        nargs="?",
        type=_reads(_read_description, "description"),
        help="the source, e.g. 'float32[::-1]' (syntax below)",
    )
    ex.add_argument(
        "--tree",
        metavar="JSON",
        type=_reads(_read_tree, "tree"),
        help="explain a whole tree: JSON whose strings are descriptions, e.g. "
        '\'{"w": "float32[::-1]", "b": "torch:float32 requires-grad"}\' (default --to numpy)',
    )
    ex.add_argument(
        "--to",
        metavar="LIBRARY",
        type=_reads(_read_library, "library"),
        help="target library (default: torch for NumPy sources when installed, else numpy)",
    )
    ex.add_argument(
        "--copy",
        type=_choice(*COPY),
        default="none",
        metavar="{none,true,false}",
        help="none: share when possible (default); true: always copy; false: never copy "
        "(any case: False works)",
    )
    ex.add_argument(
        "--dtype", type=_reads(_read_dtype, "dtype"), help="cast to this canonical dtype name"
    )
    ex.add_argument("--device", help="target device: cpu, cuda, cuda:1")
    ex.add_argument(
        "--grad",
        type=_choice("detach", "raise"),
        default="detach",
        metavar="{detach,raise}",
        help="leaving autograd: detach (default) or raise GradError",
    )
    ex.add_argument(
        "--requires-grad", action="store_true", help="ask for a result that requires grad"
    )

    rep = command(
        "report",
        report,
        "Check the contract on this machine: every source x target x dtype x layout x "
        "copy mode over every pair of installed libraries, and the upstream facts of "
        "spec/, each next to what spec/ expects.",
    )
    rep.add_argument(
        "--format",
        type=_choice(*FORMATS),
        metavar="{" + ",".join(FORMATS) + "}",
        help="text for a terminal, markdown or json for CI artefacts (default: text, or "
        "with -o the format of the file's extension: .md markdown, .json json)",
    )
    rep.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="write the report to FILE and print only its summary",
    )
    rep.add_argument(
        "--dtype",
        action="append",
        type=_reads(_read_report_dtype, "dtype"),
        metavar="NAME",
        help="check only this dtype (repeatable; default: every dtype that crosses)",
    )
    rep.add_argument(
        "--library",
        action="append",
        type=_reads(_read_report_library, "library"),
        metavar="NAME",
        help="check only the pairs among these libraries (repeatable; default: every "
        "installed one of " + ", ".join(LIBRARIES) + ")",
    )
    rep.add_argument("--no-facts", action="store_true", help="skip observing the upstream facts")
    parser.commands = list(commands.choices)  # type: ignore[attr-defined]
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
