"""Read the behaviour specification (spec/*.toml) shipped with the package."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .memo import memoised

__all__ = ["load", "spec_dir"]


def spec_dir() -> Path:
    """Where spec/ lies: inside an installed wheel, or at the root of a source checkout."""
    package = Path(__file__).resolve().parents[1]  # xpbridge/
    packaged = package / "spec"
    if packaged.is_dir():
        return packaged
    return package.parents[1] / "spec"


@memoised("spec files", "a spec file's name", 64)
def load(name: str) -> dict[str, Any]:
    """The parsed ``spec/<name>.toml``."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    with (spec_dir() / f"{name}.toml").open("rb") as f:
        data: dict[str, Any] = tomllib.load(f)
    return data
