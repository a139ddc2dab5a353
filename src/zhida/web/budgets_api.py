"""The ledger API: budgets, allocations and the budget report."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
