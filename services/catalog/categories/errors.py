"""Errors of the categories domain."""

from shared.errors import Conflict


class DuplicateSlug(Conflict):
    slug, title = "duplicate-category", "A category with this slug exists"
