"""Library code that every service and the gateway share: settings, errors, logging, MongoDB, health, metrics."""
