"""The local stack launcher: the embedded database, the four services and the gateway, one process each."""
