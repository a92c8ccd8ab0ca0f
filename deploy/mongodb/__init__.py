"""MongoDB users and roles: one user per service, allowed exactly the collections it owns or crosses."""
