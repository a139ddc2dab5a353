"""`zhida propose` (免申即享 proposals from `zhida match` output) and `zhida payments …`."""

from __future__ import annotations

TOP_LEVEL: list = []  # commands registered directly on `zhida` (propose)
