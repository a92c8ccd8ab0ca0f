"""The order service's view of the catalog: reading products, and selling or returning their stock."""
