"""Search terms: the same normalisation for what is stored and what is asked, so a multikey index
serves text search on MongoDB and on the embedded server alike (neither needs a text index).

User text never becomes an operator: it is cut into plain tokens, each matched exactly, the last
one as a prefix through an anchored, escaped regular expression (an index range scan).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from bson import Regex

from shared.db import Document

MIN_TOKEN_LENGTH = 2
MAX_TOKEN_LENGTH = 30
MAX_QUERY_TOKENS = 5
MAX_STORED_TERMS = 300
_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case ASCII word tokens: accents folded (café -> cafe), punctuation dropped."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    ascii_text = folded.encode("ascii", "ignore").decode()
    return [token[:MAX_TOKEN_LENGTH] for token in _WORD.findall(ascii_text) if len(token) >= MIN_TOKEN_LENGTH]


def search_terms(*fields: str | None) -> list[str]:
    """Distinct tokens of a product's searchable fields, in first-seen order."""
    seen: dict[str, None] = {}
    for field in fields:
        for token in tokens(field or ""):
            seen.setdefault(token, None)
    return list(seen)[:MAX_STORED_TERMS]


def search_filter(query: str) -> Document | None:
    """The filter for a search query, or None when it holds no searchable token."""
    asked = _distinct(tokens(query))[:MAX_QUERY_TOKENS]
    if not asked:
        return None
    *whole, last = asked
    prefix = Regex("^" + re.escape(last))
    if not whole:
        # `$regex`, not a bare regex value: MongoDB takes both, the embedded server only this one
        # (tests/catalog/test_seed.py found it).
        return {"search_terms": {"$regex": prefix.pattern}}
    # Every word must match: whole words exactly, the last as a prefix (typing ahead).
    return {"search_terms": {"$all": [*whole, prefix]}}


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def name_key(name: str) -> str:
    """Sort key for names: case- and accent-insensitive."""
    return " ".join(tokens(name)) or name.casefold()
