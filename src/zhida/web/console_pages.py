"""The department console: its rules and budget, the review queue, the case view, decisions, 免申即享 proposals, targets and progress."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
