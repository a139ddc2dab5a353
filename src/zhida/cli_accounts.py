"""`zhida users …`: add a user, issue a bearer token."""

from __future__ import annotations
