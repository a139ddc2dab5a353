"""Spreadsheet exports (Excel and CSV with BOM) of decisions, payment lists, 公示 lists, match results and the budget report."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
