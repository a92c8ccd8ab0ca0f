"""Order service: carts, orders, stock reservations and expiry."""
