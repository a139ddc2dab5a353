"""The ledger API: sign in and out, sessions, bearer tokens, users (admin)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
