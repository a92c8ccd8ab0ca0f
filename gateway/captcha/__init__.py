"""CAPTCHA at the gateway: challenges (`GET /api/v1/captcha`), verification of `X-Captcha-Response`,
refusal of replays, and the `X-Captcha-Verified` vouch the auth service believes.

The auth service decides *when* a solution is needed (registration, login after failures) and
answers 428 without one; the gateway verifies what is sent and refuses (428) whatever fails, before
anything is forwarded. `CAPTCHA_ROUTES` names further operations the gateway itself protects.
"""
