"""Sessions: login, refresh-token rotation in families (one successor per token) with reuse
detection, and logout."""
