"""The leadership dashboard: budget execution, top benefits and targets' progress, drawn with ECharts (served from static/)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
