"""Library code every service and the gateway share: settings, errors, logs, MongoDB, health, metrics."""
