"""Nagad merchant checkout (API "v-0.2.0", RSA flow): initialize -> complete -> browser callback -> verify.

`client.py` is the provider, `envelope.py` the RSA encryption and signatures, `wire.py` Nagad's
paths, statuses, amounts and identifiers. The browser's return is received by
`services/payment/callbacks/nagad.py`; the protocol is described in docs/providers.md.
"""

from services.payment.providers.nagad.client import NagadProvider, create
from services.payment.providers.nagad.envelope import Envelope
from services.payment.providers.nagad.wire import dhaka_stamp, order_id_for, payment_id_for

__all__ = ["Envelope", "NagadProvider", "create", "dhaka_stamp", "order_id_for", "payment_id_for"]
