"""The ledger API: 免申即享 proposals and payment batches."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
