"""The policy browser: the document by area and article, with rules, tasks, indicators, departments and budgets; search in either script."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
