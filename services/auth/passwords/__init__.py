"""Password policy (NIST SP 800-63B) and Argon2id hashing for the auth service."""
