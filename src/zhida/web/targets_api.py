"""The ledger API: targets and tasks by owner, progress reports."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
