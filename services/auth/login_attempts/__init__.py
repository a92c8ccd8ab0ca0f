"""Failed-login counting per account and per client IP: CAPTCHA demands and temporary lockouts."""
