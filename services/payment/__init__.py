"""Payment service: payments, provider calls, webhooks and refunds."""
