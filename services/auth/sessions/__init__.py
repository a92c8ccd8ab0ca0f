"""Sessions: login, refresh-token rotation in families with reuse detection, and logout."""
