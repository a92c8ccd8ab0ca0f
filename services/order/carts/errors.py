"""Errors of the carts domain."""

from shared.errors import Conflict, NotFound, ValidationFailed


class ProductUnavailable(NotFound):
    slug, title = "product-not-found", "Product not found"


class ProductInactive(ValidationFailed):
    slug, title = "product-inactive", "A product can no longer be ordered"


class CartFull(Conflict):
    slug, title = "cart-full", "The cart holds as many different products as it can"


class QuantityTooLarge(ValidationFailed):
    slug, title = "quantity-too-large", "The quantity is above what one order line may hold"
