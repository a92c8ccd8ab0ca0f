"""The sandbox provider: the real life cycle without real money, for development and demos.

It keeps its own ledger (`ledger.py`, as a real provider does on its side) and is settled by
`POST /api/v1/payments/sandbox/{payment_id}/complete` (services/payment/callbacks/sandbox.py),
which goes through the same settlement path as a verified provider webhook. Enabled only where
PAYMENT_PROVIDERS names it, and never in production.
"""

from services.payment.providers.sandbox.client import SandboxProvider, create

__all__ = ["SandboxProvider", "create"]
