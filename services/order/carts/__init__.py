"""Carts: one per customer, priced live from the catalog; a cart holds no stock."""
