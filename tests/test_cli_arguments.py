"""How the command line reads its arguments: never a traceback, and a hint for every mistake.

Every argument that is more than a word is read by an argparse type that turns
any failure into a usage error (exit status 2); descriptions and trees are
bounded before anything is built.  The property tests feed the readers
arbitrary text and description-like text: the command ends with 0, 1 or 2 and
a message, whatever it is given.  Unknown names get a did-you-mean, choices are
read in any case, and a missing library is always said the same way.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout

import pytest
from conftest import ROOT
from frameworks import tomllib, torch_param
from hypothesis import given
from hypothesis import strategies as st

from xpbridge._cli.examples import FLAGS, MAX_TREE_DEPTH
from xpbridge._cli.libraries import EXTRAS, did_you_mean, install_hint, not_installed
from xpbridge._cli.main import main
from xpbridge._lib.dtypes import DTYPES


def run(*args: str) -> tuple[int, str, str]:
    """The command in this process: its exit status, stdout and stderr.

    An exception that escapes main() fails the test: that is a traceback.
    """
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main(list(args))
        except SystemExit as e:  # argparse's usage errors
            status = e.code if isinstance(e.code, int) else 2
    return status, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------- did you mean


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["explain", "flaot32"], "unknown dtype 'flaot32' (did you mean 'float32'?)"),
        torch_param(
            ["explain", "torch:flaot32"], "torch has no dtype 'flaot32' (did you mean 'float32'?)"
        ),
        (
            ["explain", "float32", "--to", "Torch"],
            "unknown library 'Torch' (did you mean 'torch'?)",
        ),
        (["explain", "float32", "--to", "pytorch"], "(did you mean 'torch'?)"),
        (["explain", "float32", "--to", "np"], "unknown library 'np' (did you mean 'numpy'?)"),
        (["explain", "Torch:float32"], "unknown library 'Torch' (did you mean 'torch'?)"),
        (["explain", "float32 readonyl"], "unknown flag 'readonyl' (did you mean 'readonly'?)"),
        (["explain", "float32", "--dtype", "bflaot16"], "(did you mean 'bfloat16'"),
        (["explain", "float32", "--copy", "flase"], "(did you mean 'false'?)"),  # codespell:ignore
        (["report", "--format", "markdwn"], "(did you mean 'markdown'?)"),
        (["report", "--dtype", "int33"], "unknown dtype 'int33' (did you mean"),
        (
            ["report", "--library", "Dsak"],
            "'Dsak' is not in the report's matrix (did you mean 'dask'?)",
        ),
        (["explian"], "unknown command 'explian' (did you mean 'explain'?)"),  # codespell:ignore
    ],
)
def test_a_mistyped_name_gets_the_closest_known_one(args: list[str], hint: str) -> None:
    status, out, err = run(*args)
    assert status == 2, (out, err)
    assert hint in err


def test_the_help_states_the_limits_the_readers_apply() -> None:
    from xpbridge._cli import examples

    status, out, _ = run("explain", "--help")
    text = " ".join(out.split())
    assert status == 0
    assert f"at most {examples.MAX_LENGTH:,} characters" in text
    assert f"at most {examples.MAX_ELEMENTS:,} elements ({examples.MAX_BYTES // 2**20} MiB)" in text
    depth, leaves = examples.MAX_TREE_DEPTH, examples.MAX_TREE_LEAVES
    assert f"at most {depth} levels deep, with {leaves:,} leaves" in text


def test_no_suggestion_when_nothing_is_close() -> None:
    assert did_you_mean("nosuch", ["numpy", "torch", "dask"]) == ""
    status, _, err = run("explain", "float32", "--to", "nosuch")
    assert status == 2 and "unknown library 'nosuch': known are" in err
    assert "did you mean" not in err


# --------------------------------------------------------------- any case


@pytest.mark.parametrize(
    ("args", "status", "first_line"),
    [
        torch_param(
            ["explain", "float32[::-1]", "--to", "torch", "--copy", "False"], 1, "CopyError:"
        ),
        torch_param(
            ["explain", "float32[::-1]", "--to", "torch", "--copy", "TRUE"], 0, "numpy float32"
        ),
        torch_param(["explain", "torch:float32 requires-grad", "--grad", "Raise"], 1, "GradError:"),
        (["explain", "float32", "--to", "numpy", "--dtype", "Float64"], 0, "numpy float32"),
        (["explain", "Float32", "--to", "numpy"], 0, "numpy float32 array"),
        torch_param(["explain", "torch:BFloat16", "--to", "numpy"], 0, "torch bfloat16"),
    ],
)
def test_choices_and_canonical_names_are_read_in_any_case(
    args: list[str], status: int, first_line: str
) -> None:
    got, out, err = run(*args)
    assert got == status, err
    assert out.startswith(first_line)


# ------------------------------------------------------- missing libraries


def test_extras_are_the_ones_pyproject_declares() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    declared = {
        re.split(r"[\[<>=;]", requirement)[0].replace("-", "_"): extra
        for extra, requirements in extras.items()
        for requirement in requirements
    }
    assert declared == EXTRAS
    assert install_hint("torch") == "pip install 'xpbridge[torch]'"
    assert install_hint("ml_dtypes") == "pip install 'xpbridge[ml-dtypes]'"
    assert install_hint("distributed") == "pip install 'xpbridge[dask]'"
    assert install_hint("array_api_strict") == "pip install 'array-api-strict'"
    assert not_installed("jax.numpy") == "jax is not installed here: pip install 'xpbridge[jax]'"


def test_every_install_line_of_the_command_line_is_the_one_helper() -> None:
    cli = ROOT / "src" / "xpbridge" / "_cli"
    for source in cli.glob("*.py"):
        if source.name != "libraries.py":
            assert "pip install" not in source.read_text(), source


# --------------------------------------------------------- never a traceback

# Pieces of descriptions, right and wrong, so that generated text reaches every
# reader: libraries, dtypes, shapes (huge ones too), indices, flags.
LIBRARY = st.sampled_from(
    ["", "numpy:", "torch:", "array_api_strict:", "jax:", "dask:", "Torch:", "nosuch:", ":"]
)
DTYPE = st.one_of(
    st.sampled_from([*DTYPES, "longdouble", "object", "datetime64", "U5", "V8", "flaot32"]),
    st.text(max_size=12),
)
NUMBER = st.one_of(st.integers(-5, 20), st.integers(-(2**70), 2**70))
SHAPE = st.one_of(
    st.just(""),
    st.lists(NUMBER, max_size=4).map(lambda n: "(" + ", ".join(map(str, n)) + ")"),
)
PART = st.one_of(
    NUMBER.map(str),
    st.tuples(NUMBER, NUMBER, NUMBER).map(lambda t: f"{t[0]}:{t[1]}:{t[2]}"),
    st.sampled_from([":", "::-1", "...", "None", "-" * 50 + "1", "::0"]),
)
INDEX = st.lists(st.lists(PART, min_size=1, max_size=3).map(", ".join), max_size=3).map(
    lambda parts: "".join(f"[{p}]" for p in parts)
)
FLAG = st.one_of(
    st.sampled_from([*FLAGS, "cuda", "cuda:3", "meta", "readonyl"]), st.text(max_size=8)
)
DESCRIPTION = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda lib, dtype, shape, index, transpose, flags: (
            f"{lib}{dtype}{shape}{index}{'.T' if transpose else ''} {' '.join(flags)}"
        ),
        LIBRARY,
        DTYPE,
        SHAPE,
        INDEX,
        st.booleans(),
        st.lists(FLAG, max_size=3),
    ),
)
OPTIONS = st.lists(
    st.sampled_from(
        [
            ["--to", "numpy"],
            ["--to", "torch"],
            ["--to", "jax"],
            ["--copy", "false"],
            ["--copy", "True"],
            ["--dtype", "float32"],
            ["--grad", "raise"],
            ["--requires-grad"],
        ]
    ),
    max_size=3,
).map(lambda options: [word for option in options for word in option])


def _ends_cleanly(status: int, out: str, err: str) -> None:
    assert status in {0, 1, 2}, (status, out, err)
    assert "Traceback" not in out + err
    if status == 2:
        assert "error: " in err  # a usage error says what is wrong
    else:
        assert out and not err  # a plan, or the error converting would raise


@pytest.mark.property
@given(description=DESCRIPTION, options=OPTIONS)
def test_any_description_ends_in_a_message_never_a_traceback(
    description: str, options: list[str]
) -> None:
    _ends_cleanly(*run("explain", description, *options))


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), DESCRIPTION)
JSON_TREE = st.recursive(
    JSON_LEAF,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


@pytest.mark.property
@given(
    tree=st.one_of(JSON_TREE.map(json.dumps), st.text(max_size=40)),
    depth=st.sampled_from([0, 0, MAX_TREE_DEPTH, 5000]),
    options=OPTIONS,
)
def test_any_tree_ends_in_a_message_never_a_traceback(
    tree: str, depth: int, options: list[str]
) -> None:
    _ends_cleanly(*run("explain", "--tree", "[" * depth + tree + "]" * depth, *options))
