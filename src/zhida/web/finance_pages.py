"""Finance: payment batches, failures and retries, bank files."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
