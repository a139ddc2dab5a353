from __future__ import annotations

from pathlib import Path

import pytest

from zhida.source import Document, parse_file

ROOT = Path(__file__).resolve().parents[1]
HUZHOU = ROOT / "policies" / "huzhou-2025" / "document.txt"


@pytest.fixture(scope="session")
def huzhou() -> Document:
    return parse_file(HUZHOU)
