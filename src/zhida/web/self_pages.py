"""Self-service for an enterprise, incubator or resident: profile, candidates, applying with attachments, status; and the public 兑前公示 list."""

from __future__ import annotations

import re

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)

# Pages that take an attachment (multipart): BodyLimit lets these through up to the attachment bound.
UPLOAD_PATH = re.compile(r"/me/applications(/[0-9]+/attachments)?")
