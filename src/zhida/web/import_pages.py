"""Importing the register and events from Excel or CSV, with templates and row errors."""

from __future__ import annotations

import re

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

# The import form takes a spreadsheet: BodyLimit lets it through up to this bound.
UPLOAD_PATH = re.compile(r"/import/(register|events)")
UPLOAD_BODY_BYTES = 20 * 1024 * 1024
