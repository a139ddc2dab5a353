"""`zhida budget set` and `zhida report budget`."""

from __future__ import annotations
