"""The ledger API: subjects, profiles, candidates, applications, decisions, awards, 兑前公示 and objections."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
