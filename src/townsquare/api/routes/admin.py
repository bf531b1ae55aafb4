"""The admin routes of the API (see townsquare.api.app for where they are mounted)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
