"""`zhida targets …` and `zhida report targets`."""

from __future__ import annotations
