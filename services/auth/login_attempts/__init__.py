"""Failed-login counting per account and per client: CAPTCHA demands and delays, never a lockout."""
