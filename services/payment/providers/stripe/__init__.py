"""Stripe: PaymentIntents for the SPA's Payment Element, refunds, and signed webhooks.

`client.py` calls Stripe through its official SDK; `events.py` verifies a webhook's signature and
reads what it says; `amounts.py` converts amounts and statuses both ways. The route that receives
the webhooks is `services/payment/callbacks/stripe.py`; the protocol as this project uses it is in
docs/providers.md.
"""

from services.payment.providers.stripe.client import StripeProvider, create
from services.payment.providers.stripe.events import UnreadableEvent, events_of

__all__ = ["StripeProvider", "UnreadableEvent", "create", "events_of"]
