"""Errors of the products domain."""

from shared.errors import NotFound


class ProductNotFound(NotFound):
    slug, title = "product-not-found", "Product not found"
