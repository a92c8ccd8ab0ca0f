"""Payment providers behind one interface: Stripe, bKash, Nagad, and a local sandbox."""
