"""Errors of the audit listing."""

from __future__ import annotations

from shared.errors import ValidationFailed


class InvalidAuditCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The cursor is not valid for this listing"
