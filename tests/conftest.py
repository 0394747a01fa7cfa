from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"


def load_spec(name: str) -> dict[str, Any]:
    with (SPEC / name).open("rb") as f:
        return tomllib.load(f)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "rule(id): the contract rule in spec/contract.toml a test proves"
    )
    sys.path.insert(0, str(Path(__file__).parent))
