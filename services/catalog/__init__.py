"""Catalog service: products, categories, prices and stock levels."""
