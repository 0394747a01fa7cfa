"""Seeing copies: the ``xpbridge`` logger, ``no_copies()``, plans in a REPL or notebook,
and a missing library as an ImportError."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
import torch

import xpbridge as xb

pytestmark = pytest.mark.rule("observe-copies")


def test_every_conversion_that_copies_logs_its_plan_and_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = np.arange(4.0)
    with caplog.at_level(logging.DEBUG, logger="xpbridge"):
        for _ in range(2):  # cold and warm
            xb.to_torch(a)  # zero-copy: no record
            xb.to_torch(a[::-1])
            xb.to_numpy(torch.ones(2), copy=True)
    records = [r for r in caplog.records if r.name == "xpbridge"]
    assert len(records) == 4 and all(r.levelno == logging.DEBUG for r in records)
    assert "because the source has negative strides" in records[0].getMessage()
    assert "copy=True asks for a new buffer" in records[1].getMessage()


def test_no_copies_refuses_a_copy_before_it_is_made() -> None:
    a = np.arange(4.0)
    with xb.no_copies():
        assert xb.shares_memory(xb.to_torch(a), a)  # zero-copy conversions pass
        with pytest.raises(xb.CopyError, match="inside no_copies"):
            xb.to_torch(a[::-1])
        tree = {"view": a, "copy": a[::-1]}
        with pytest.raises(xb.CopyError, match=r"^tree\['copy'\]: "):
            xb.convert_tree(tree, "torch")
    assert xb.to_torch(a[::-1]).tolist() == [3.0, 2.0, 1.0, 0.0]  # outside the block


def test_no_copies_can_warn_instead() -> None:
    with xb.no_copies(action="warn"), pytest.warns(xb.CopyWarning, match="copies"):
        result = xb.to_torch(np.arange(3.0)[::-1])
    assert result.tolist() == [2.0, 1.0, 0.0]
    with pytest.raises(xb.ArgumentError, match="'raise' or 'warn'"), xb.no_copies("ignore"):
        pass


def test_no_copies_is_per_thread() -> None:
    seen: list[str] = []

    def other() -> None:
        seen.append(type(xb.to_torch(np.arange(3.0)[::-1])).__name__)  # not blocked here

    with xb.no_copies():
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == ["Tensor"]


def test_plans_read_well_in_a_repl_and_a_notebook() -> None:
    class Printer:  # IPython's pretty printer, as far as _repr_pretty_ uses it
        text_seen = ""

        def text(self, text: str) -> None:
            self.text_seen += text

    p = xb.plan(np.arange(3.0)[::-1], "torch")
    printer = Printer()
    p._repr_pretty_(printer, False)
    assert printer.text_seen == str(p) and "\n" in printer.text_seen
    assert repr(p).startswith("Plan(source=")  # repr stays unambiguous
    html = p._repr_html_()
    assert html.startswith("<table>") and "negative strides" in html
    tree = xb.plan_tree({"w": np.ones(2), "<b>": np.arange(2.0)[::-1]}, "torch")
    printer = Printer()
    tree._repr_pretty_(printer, False)
    assert printer.text_seen == str(tree)
    assert "&lt;b&gt;" in tree._repr_html_()  # escaped


def test_a_missing_library_is_an_import_error_with_its_install_line() -> None:
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import numpy as np, xpbridge as xb\n"
        "try:\n"
        "    xb.to_torch(np.ones(2))\n"
        "except ImportError as e:\n"
        "    print(type(e).__name__, isinstance(e, xb.ConversionError), e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("MissingLibraryError True torch is not installed")
    assert "pip install 'xpbridge[torch]'" in done.stdout


def test_every_missing_library_message_is_the_one_install_line() -> None:
    from xpbridge._cli.libraries import not_installed
    from xpbridge.errors import install_line
    from xpbridge.testing._catalogue import LIBRARIES

    if LIBRARIES["cupy"].is_installed():
        pytest.skip("cupy is installed: nothing is missing")
    with pytest.raises(xb.MissingLibraryError) as toolkit:
        LIBRARIES["cupy"].load()
    assert str(toolkit.value) == f"cupy is not installed: {install_line('cupy')}"
    assert not_installed("cupy") == f"cupy is not installed here: {install_line('cupy')}"
    assert install_line("cupy") == "pip install 'cupy'"
    assert install_line("jax.numpy") == "pip install 'xpbridge[jax]'"


def test_logging_costs_zero_copy_conversions_nothing() -> None:
    # A zero-copy plan is compiled without the observer: its warm call is the primitive.
    from xpbridge._pipeline.describe import KEYS
    from xpbridge._pipeline.request import request_of

    a = np.arange(3, dtype=np.float32)
    xb.to_torch(a)
    entry = request_of("torch", None, None, None, "detach", False).table[KEYS.data[np.ndarray](a)]
    assert entry.run is torch.from_numpy
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xb.to_torch(a)
