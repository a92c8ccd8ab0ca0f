"""Errors of the products domain."""

from shared.errors import Conflict, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    slug, title = "product-not-found", "Product not found"


class DuplicateSku(Conflict):
    slug, title = "duplicate-sku", "A product with this SKU exists"


class UnknownCategory(ValidationFailed):
    slug, title = "unknown-category", "No such category"


class StockWouldGoNegative(Conflict):
    slug, title = "insufficient-stock", "Not enough stock"


class StockTooLarge(Conflict):
    slug, title = "stock-too-large", "Stock cannot go above the maximum"


class InvalidCursor(ValidationFailed):
    slug, title = "invalid-cursor", "The cursor is not valid for this listing"


class CurrencyNotOffered(ValidationFailed):
    """The price's currency is not one of SHOP_CURRENCIES; `offered` lists those."""

    slug, title = "currency-not-offered", "The shop does not sell in this currency"
