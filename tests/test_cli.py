"""python -m xpbridge: info, demo, explain, report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xpbridge import _convert
from xpbridge.__main__ import main
from xpbridge._upstream import run_python


def test_info_and_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "backend     dlpack (protocol)" in out and "bfloat16" in out
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "a[0] is now 10.0" in out and "CopyError" in out and "[-2.]" in out


def test_explain_reversed_to_torch_without_copy(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "reversed", "--copy", "false"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("CopyError:") and "negative strides" in out


def test_report_writes_markdown_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    md = tmp_path / "report.md"
    assert main(["report", "--format", "markdown", "-o", str(md), "--dtype", "float32"]) == 0
    text = md.read_text()
    assert "| numpy | torch | reversed | C | C | CopyError |" in text
    assert "0 contract violations" in text
    assert "seed-default-integer-int32" in text
    js = tmp_path / "report.json"
    assert (
        main(["report", "--format", "json", "-o", str(js), "--dtype", "bfloat16", "--no-facts"])
        == 0
    )
    data = json.loads(js.read_text())
    assert {c["outcome"] for c in data["checks"]} >= {"A", "C", "CopyError"}
    assert all(c["violation"] == "" for c in data["checks"])


def test_report_fails_when_the_contract_breaks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = _convert.convert

    def copies_behind_the_plans_back(x: object, to: object, **kwargs: object) -> object:
        return real(x, to, **{**kwargs, "copy": True})

    monkeypatch.setattr(_convert, "convert", copies_behind_the_plans_back)
    assert main(["report", "--dtype", "int16", "--no-facts"]) == 1
    assert "VIOLATION" in capsys.readouterr().out


def test_report_needs_no_test_dependencies() -> None:
    # hypothesis is a test extra: the report must run where only the runtime is installed
    done = run_python(
        """
        import sys
        sys.modules["hypothesis"] = None
        from xpbridge.__main__ import main
        raise SystemExit(main(["report", "--dtype", "complex64", "--no-facts"]))
        """
    )
    assert done.returncode == 0, done.stderr
    assert "0 contract violations" in done.stdout
