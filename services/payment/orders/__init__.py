"""The payment service's adapter to the order service's data (orders, their outbox, stock)."""
