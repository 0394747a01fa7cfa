"""The xpbridge command line: help, exit codes, explain, report, the progress bar.

Commands run in a fresh interpreter (as users run them), so a traceback or a
wrong exit status cannot hide behind pytest.  The NumPy-only behaviour is in
tests/minimal/test_cli_without_torch.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from conftest import load_spec
from frameworks import HAS_TORCH, needs_torch, torch_param

import xpbridge
from xpbridge._api import convert as _convert
from xpbridge._cli.examples import PRESETS, DescriptionError, example, example_tree
from xpbridge._cli.main import build_parser, main
from xpbridge._cli.report import libraries
from xpbridge._cli.upstream import run_python
from xpbridge._lib.environment import OPTIONAL, installed

pytestmark = pytest.mark.subprocess

INSTALLED = libraries()
PAIRS = [(source, target) for source in INSTALLED for target in INSTALLED]
# The report's tests of its output run over NumPy and torch only; the whole
# matrix has a test of its own (test_report_holds_over_every_installed_pair).
# (torch where it is installed: a leg without torch checks the output over NumPy.)
NUMPY_TORCH = ["--library", "numpy", *(["--library", "torch"] if HAS_TORCH else [])]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "xpbridge", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )


def test_every_command_and_option_has_help() -> None:
    parser = build_parser("xpbridge")
    assert "``" not in parser.description  # plain text, not reST
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == {"info", "demo", "explain", "report"}
    for name, sub in [("xpbridge", parser), *subparsers.choices.items()]:
        assert sub.description, name
        for action in sub._actions:
            assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    assert all(choice.help for choice in subparsers._choices_actions)


def test_version_and_console_script() -> None:
    done = cli("--version")
    assert (done.returncode, done.stdout) == (0, f"xpbridge {xpbridge.__version__}\n")
    (script,) = entry_points(group="console_scripts", name="xpbridge")
    assert script.load() is main
    installed = Path(sys.executable).with_name("xpbridge")
    done = subprocess.run([installed, "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, f"xpbridge {xpbridge.__version__}\n")
    done = subprocess.run([installed, "--help"], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and done.stdout.startswith("usage: xpbridge ")


@needs_torch
def test_info_and_demo() -> None:
    done = cli("info")
    assert done.returncode == 0, done.stderr
    assert "backend           dlpack (protocol)" in done.stdout
    # only what is usable: every library and backend listed is installed
    listed = done.stdout.partition("not installed")[0]
    for line in listed.splitlines():
        name = line.split()[1] if line.startswith("backend ") else line.split()[0]
        if name in OPTIONAL:
            assert installed(name), line
    assert "backend           array_api_strict (array API)" in done.stdout
    assert f"not installed     {'cupy':<17} pip install 'cupy'" in done.stdout
    assert "cross NumPy <-> torch" in done.stdout and "bfloat16" in done.stdout
    done = cli("demo")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "== NumPy ==" in out and "== NumPy <-> torch ==" in out
    assert "a[0] is now 10.0" in out and "CopyError" in out and "[-2.]" in out
    assert "torch is not installed" not in out


@pytest.mark.parametrize(
    ("args", "status", "first_line"),
    [
        torch_param(
            ["float32[::-1]", "--to", "torch", "--copy", "false"], 1, "CopyError: copy=False"
        ),
        torch_param(
            ["float32[::-1]", "--to", "torch"], 0, "numpy float32 array on cpu -> torch float32"
        ),
        # a shorthand; the default target is torch
        torch_param(["reversed", "--copy", "false"], 1, "CopyError: copy=False"),
        torch_param(["float64(3, 4).T readonly"], 0, "numpy float64 array on cpu -> torch float64"),
        torch_param(["torch:float32 requires-grad", "--grad", "raise"], 1, "GradError:"),
        torch_param(
            ["torch:bfloat16", "--copy", "false"], 0, "torch bfloat16 array on cpu -> numpy"
        ),
        torch_param(["torch:complex64 conj", "--copy", "false"], 1, "CopyError:"),
        torch_param(["torch:float32 neg"], 0, "torch float32 array on cpu -> numpy float32"),
        torch_param(["torch:float32 sparse"], 1, "UnsupportedInputError:"),
        torch_param(["float32 masked", "--to", "torch"], 1, "UnsupportedInputError:"),
        torch_param(["float32 memmap", "--copy", "false"], 1, "CopyError:"),
        torch_param(["float32 scalar", "--to", "torch"], 0, "numpy float32 scalar on cpu -> torch"),
        torch_param(
            ["float32", "--dtype", "bfloat16"], 0, "numpy float32 array on cpu -> torch bfloat16"
        ),
        (["float32", "--device", "cuda:7"], 1, "DeviceError:"),
        torch_param(["torch:uint3"], 1, "DTypeError:"),
        (["array_api_strict:float64"], 0, "array_api_strict float64 array on cpu -> numpy"),
    ],
)
def test_explain(args: list[str], status: int, first_line: str) -> None:
    done = cli("explain", *args)
    assert done.returncode == status, done.stderr
    assert done.stdout.startswith(first_line)
    assert done.stderr == ""


@needs_torch
def test_explain_shows_a_tree_plan_leaf_by_leaf() -> None:
    tree = '{"w": "float32[::-1]", "b": ["torch:float32 requires-grad"], "n": null}'
    done = cli("explain", "--tree", tree, "--to", "numpy")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("tree -> numpy: 2 arrays")
    assert any(line.strip().startswith("tree['b'][0]") and "detach" in line for line in lines)
    assert any(line.strip().startswith("tree['n']") and "passed through" in line for line in lines)
    refused = cli("explain", "--tree", tree, "--to", "numpy", "--grad", "raise")
    assert refused.returncode == 1 and refused.stdout.startswith("GradError: tree['b'][0]:")
    both = cli("explain", "float32", "--tree", tree)
    assert both.returncode == 2 and "not both" in both.stderr
    neither = cli("explain")
    assert neither.returncode == 2 and neither.stdout == ""
    assert neither.stderr.startswith("usage: ")
    assert "nothing to explain: describe a source, or give a tree of them" in neither.stderr
    assert 'explain "float32[::-1]" --to torch' in neither.stderr
    assert "--help lists the description syntax" in neither.stderr


@needs_torch
def test_explain_says_why_it_copies() -> None:
    out = cli("explain", "float32 byteswapped", "--to", "torch").stdout
    assert "because: the source's byte order is not native" in out
    assert "result:  a new buffer" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "--dtype", "nosuch"], "unknown dtype 'nosuch'"),
        (["report", "--dtype", "int4"], "int4 is not in the report's matrix"),
        (["report", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["report", "--no-facts", "--dtype", "bool", "-o", "/nonexistent/r.md"], "cannot write"),
        (["explain", "float32", "--copy", "maybe"], "invalid choice: 'maybe'"),
        (["explain", "float32", "--dtype", "float"], "unknown dtype 'float'"),
        (["explain", "float32", "--to", "nosuch"], "unknown library 'nosuch'"),
        (["explain", "float32", "--to", "numpy", "--requires-grad"], "needs a target with"),
        (["explain", "nosuch"], "unknown dtype 'nosuch'"),
        (["explain", "float32[::-1"], "unbalanced brackets"),
        (["explain", "float32[__import__('os')]"], "is not an index"),
        (["explain", "float32 bogus"], "unknown flag 'bogus'"),
        (["explain", "float32 requires-grad"], "requires-grad is for torch sources"),
        torch_param(["explain", "torch:float32[::-1]"], "torch cannot make"),
        torch_param(["explain", "torch:float32 cuda:3"], "torch cannot make a tensor on cuda:3"),
        torch_param(["explain", "torch:int32 requires-grad"], "torch cannot make"),
        (["explain", "nosuchlib:float32"], "unknown library 'nosuchlib'"),
        (["explain", ""], "an empty description"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        # issue 20: each of these once ended in a traceback
        (["explain", "float32(100000000,100000000)"], "a description may have at most"),
        (["explain", "float32[" + "-" * 900 + "1]"], "nested too deeply"),
        (["explain", "float32[" + "-" * 100 + "1]"], "is not an index"),
        (["explain", "--tree", "[" * 5000 + "]" * 5000], "a tree is at most 64 levels deep"),
        (["explain", "--tree", "[" * 70 + '"float32"' + "]" * 70], "at most 64 levels"),
        (["explain", "V100000000(4,)"], "a description may take at most"),
        (["explain", "x" * 1001], "a description is at most 1,000 characters"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_input_is_a_usage_error_without_traceback(args: list[str], message: str) -> None:
    done = cli(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_report_writes_markdown_and_json(tmp_path: Path) -> None:
    md = tmp_path / "report.md"
    done = cli("report", "-o", str(md), "--dtype", "float32", *NUMPY_TORCH)  # format from .md
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # not a terminal: no progress bar
    assert f"markdown report written to {md}" in done.stdout
    # a summary on the terminal, the report in the file
    lines = done.stdout.splitlines()
    assert len(lines) == 3, done.stdout
    over = ["numpy", "torch"] if HAS_TORCH else ["numpy"]
    assert lines[0] == f"{len(over) ** 2} library pairs over {', '.join(over)}"
    assert "0 contract violations" in lines[1]
    text = md.read_text()
    if HAS_TORCH:
        assert "| numpy | torch | reversed | C | C | CopyError |" in text
    assert "0 contract violations" in text
    assert "| fact | holds (spec/) | so here | observed here | verdict | motivates |" in text
    assert "| seed-default-integer-int32 | never | does not hold | " in text  # then observed
    js = tmp_path / "report.json"
    done = cli("report", "-o", str(js), "--dtype", "bfloat16", *NUMPY_TORCH)
    assert done.returncode == 0, done.stderr
    data = json.loads(js.read_text())
    assert all(c["violation"] == "" for c in data["checks"])
    assert data["summary"]["violations"] == 0
    # Whether upstream still matches spec/ is test_upstream.py's question; here the
    # summary counts what the rows say.
    differing = [f for f in data["facts"] if f["verdict"] == "DIFFERS from spec/"]
    assert data["summary"]["facts_differing_from_spec"] == len(differing)
    facts = {f["id"]: f for f in data["facts"]}
    assert facts["seed-cuda-numpy-typeerror"]["verdict"].startswith("not observable here")
    # Each fact says where spec/ says it holds, what that means on these versions,
    # and what it motivates.
    from xpbridge._cli.upstream import expected, holds_text

    for spec_fact in load_spec("upstream.toml")["fact"]:
        fact = facts[spec_fact["id"]]
        assert fact["holds"] == holds_text(spec_fact), fact["id"]
        assert fact["expected"] is expected(spec_fact), fact["id"]
        assert fact["motivates"] == spec_fact["motivates"], fact["id"]
    if HAS_TORCH:
        assert data["versions"]["torch"].startswith("2.")
        assert {c["outcome"] for c in data["checks"]} >= {"A", "C", "CopyError"}


@needs_torch  # its pairs and outcomes are torch's
def test_report_covers_every_pair_of_installed_libraries(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert main(["report", "--no-facts", "--dtype", "float32", "-o", str(out)]) in {0, 1}
    data = json.loads(out.read_text())
    assert {(c["source"], c["target"]) for c in data["checks"]} == set(PAIRS)
    assert len(PAIRS) == 25  # numpy, torch, array-api-strict, JAX and Dask are in the test group
    by_pair = {(c["source"], c["target"], c["layout"], c["copy"]): c for c in data["checks"]}
    # a view with a negative stride: NumPy takes it as it is, torch needs a copy
    assert by_pair["array_api_strict", "numpy", "reversed-view", "False"]["outcome"] == "A"
    assert by_pair["array_api_strict", "torch", "reversed-view", "False"]["outcome"] == "CopyError"
    assert by_pair["dask", "torch", "contiguous", "None"]["outcome"] == "C"  # computed


@pytest.mark.parametrize(
    ("name", "format_args", "written"),
    [
        ("r.md", [], "markdown"),
        ("r.markdown", [], "markdown"),
        ("r.json", [], "json"),
        ("r.txt", [], "text"),
        ("r.log", [], "text"),
        ("r.md", ["--format", "json"], "json"),  # an explicit --format wins
        ("r.json", ["--format", "TEXT"], "text"),  # choices in any case
    ],
)
def test_report_output_format_follows_the_extension(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    format_args: list[str],
    written: str,
) -> None:
    out = tmp_path / name
    command = ["report", "--no-facts", "--dtype", "int8", *NUMPY_TORCH, "-o", str(out)]
    assert main([*command, *format_args]) == 0
    text = out.read_text()
    starts = {"markdown": "# xpbridge conformance report", "json": "{", "text": "xpbridge "}
    assert text.startswith(starts[written])
    printed = capsys.readouterr().out
    assert printed.endswith(f"{written} report written to {out}\n")
    assert "| source |" not in printed and "copy=None" not in printed  # a summary only


def test_report_holds_over_every_installed_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--no-facts", "--dtype", "float32", "--dtype", "bool"]) == 0
    assert "VIOLATION" not in capsys.readouterr().out


def test_report_checks_only_the_libraries_asked_for(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    assert (
        main(["report", "--no-facts", "--dtype", "int8", "--library", "NUMPY", "-o", str(out)]) == 0
    )
    data = json.loads(out.read_text())
    assert {(c["source"], c["target"]) for c in data["checks"]} == {("numpy", "numpy")}


def test_report_fails_when_the_contract_breaks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = _convert.convert

    def copies_behind_the_plans_back(x: object, to: object, **kwargs: object) -> object:
        return real(x, to, **{**kwargs, "copy": True})

    monkeypatch.setattr(_convert, "convert", copies_behind_the_plans_back)
    assert main(["report", "--dtype", "int16", "--no-facts"]) == 1
    out = capsys.readouterr().out
    assert "VIOLATION" in out and "plan.aliases=True but shares_memory=False" in out
    # with -o, the summary names the violations too, and says how many it left out
    assert main(["report", "--dtype", "int16", "--no-facts", "-o", os.devnull]) == 1
    summary = capsys.readouterr().out.splitlines()
    assert summary[1].startswith("VIOLATION Check(")
    assert re.fullmatch(r"\.\.\. and \d+ more violations \(in the file\)", summary[21])


def test_report_says_when_a_fact_differs_from_the_spec(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from xpbridge._cli import upstream as _upstream

    # Every observation as spec/ expects it on these versions (whatever upstream
    # does here: that is test_upstream.py's business), but one.
    for fact in load_spec("upstream.toml")["fact"]:
        monkeypatch.setitem(_upstream.OBSERVE, fact["id"], lambda f=fact: _upstream.expected(f))
    monkeypatch.setitem(_upstream.OBSERVE, "seed-default-integer-int32", lambda: True)
    assert main(["report", "--dtype", "int8", "--format", "markdown", *NUMPY_TORCH]) == 0
    out = capsys.readouterr().out
    row = "| seed-default-integer-int32 | never | does not hold | holds | DIFFERS from spec/ |"
    assert row in out
    assert "1 differ from spec/" in out
    assert "- upstream changed: the fact 'seed-default-integer-int32' holds with numpy" in out
    assert "rules it motivates: np-torch-dtypes" in out


def test_report_needs_no_test_dependencies() -> None:
    # hypothesis is a test extra: the report must run where only the runtime is installed
    done = run_python(
        """
        import sys
        sys.modules["hypothesis"] = None
        from xpbridge._cli.main import main
        raise SystemExit(main(["report", "--dtype", "complex64", "--no-facts", *LIBRARIES]))
        """.replace("*LIBRARIES", ", ".join(map(repr, NUMPY_TORCH)))
    )
    assert done.returncode == 0, done.stderr
    assert "0 contract violations" in done.stdout


def test_progress_bar_on_a_terminal_ends_cleanly() -> None:
    import pty

    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80"}
    child = subprocess.Popen(
        [sys.executable, "-m", "xpbridge", "report", "--dtype", "int8", *NUMPY_TORCH],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    drawn = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    out, _ = child.communicate(timeout=600)
    os.close(leader)
    assert child.returncode == 0
    text = drawn.decode()
    assert re.search(r"\] 1/\d+ numpy -> numpy int8 contiguous copy=None", text)
    # the last step (the last upstream fact) is counted as the total, and a slow
    # step says what it is
    last = re.escape(load_spec("upstream.toml")["fact"][-1]["id"][:15])
    assert re.search(rf"\] (\d+)/\1 upstream fact {last}", text)
    assert text.endswith("\r" + " " * 79 + "\r")  # the bar erased itself
    assert b"\r" not in out and out.startswith(b"xpbridge ")


def test_progress_bar_is_erased_on_interrupt() -> None:
    import io

    from xpbridge._cli.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = Progress(10, stream)
    try:
        with bar:
            bar.step("first")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert "first" in stream.getvalue()
    assert stream.getvalue().endswith("\r" + " " * bar.width + "\r")
    quiet = io.StringIO()
    with Progress(10, quiet) as bar:
        bar.step("first")
    assert quiet.getvalue() == ""


@needs_torch
def test_examples_have_the_traits_they_name() -> None:
    import numpy as np
    import torch

    assert example("float32[::-1]").strides == (-4,)
    assert example("int16()").shape == ()
    assert example("float64(2, 3).T").flags.f_contiguous
    assert example("float32(0,)").size == 0
    assert not example("float32 memmap").flags.writeable
    assert example("float32 byteswapped").dtype.byteorder in "<>"
    assert not example("complex128 unaligned").flags.aligned
    assert isinstance(example("float32 scalar"), np.float32)
    assert example("torch:float32 requires-grad").requires_grad
    assert example("torch:complex64 conj").is_conj()
    assert example("torch:float32 neg").is_neg()
    assert example("torch:float32 meta").device == torch.device("meta")
    assert example("float32(3, 4)[None, 1:, ::2]").shape == (1, 2, 2)
    for shorthand in PRESETS:
        example(shorthand)
    tree = example_tree('{"a": ["float32", "torch:int8"], "b": null}')
    assert tree["a"][1].dtype == torch.int8 and tree["b"] is None
    with pytest.raises(DescriptionError, match="JSON"):
        example_tree("{not json")
