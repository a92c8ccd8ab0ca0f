"""Request-rate limits per route class and client, counted in Redis (shared by every gateway replica)
or, without Redis or while it fails, in this process's memory.

- `policy`: which class a request belongs to, whose bucket it counts in, and the headers it gets.
- `limiter`: the counters (limits' async API), the fallback to memory and the recovery.
- `middleware`: applies both to every request that is not a probe or a scrape.

Who the client is: always its IP address (through `TRUSTED_PROXIES`), and a user only when the
request carries an access token the gateway has verified itself, with the auth service's published
keys, like every service does. An unverified `sub` would let anyone spend (and exhaust) another
user's bucket, or spread their own requests over invented users to escape the limit. A token that
fails verification is not rejected here (the service answers 401): its request counts by IP.
"""
