"""Search terms: the same normalisation for what is stored and what is asked, so a multikey index
serves text search on MongoDB and on the embedded server alike (neither needs a text index).

User text never becomes an operator: it is cut into plain tokens, each matched exactly, the last
one as a prefix. A product stores its distinct tokens and, for each, its prefixes of 2 to
PREFIX_LENGTH characters marked with PREFIX_MARK (`rice` stores `rice`, `ri*`, `ric*`, `rice*`). So
every search word, the prefix included, is one exact key of the `search_newest` index, which a
listing page can read in windows of `created_at` (listing.py): an exact key bounds the scan on
any planner, where a prefix range on the leading key would make every page read all its matches.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bson import Regex

from shared.db import Document

MIN_TOKEN_LENGTH = 2
MAX_TOKEN_LENGTH = 30
MAX_QUERY_TOKENS = 5
MAX_STORED_TERMS = 300
# Longer prefixes are looked up by their first PREFIX_LENGTH characters, the rest checked on the
# documents found. 6 keeps typed words selective for about four index entries per stored token.
PREFIX_LENGTH = 6
PREFIX_MARK = "*"  # never part of a token, so a prefix entry is never mistaken for a word
_WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case ASCII word tokens: accents folded (café -> cafe), punctuation dropped."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    ascii_text = folded.encode("ascii", "ignore").decode()
    return [token[:MAX_TOKEN_LENGTH] for token in _WORD.findall(ascii_text) if len(token) >= MIN_TOKEN_LENGTH]


def search_terms(*fields: str | None) -> list[str]:
    """Distinct tokens of a product's searchable fields, in first-seen order, then their prefixes."""
    seen: dict[str, None] = {}
    for field in fields:
        for token in tokens(field or ""):
            seen.setdefault(token, None)
    words = list(seen)[:MAX_STORED_TERMS]
    prefixes = dict.fromkeys(prefix_key(word[:length]) for word in words for length in _prefix_lengths(word))
    return words + list(prefixes)


def _prefix_lengths(word: str) -> range:
    return range(MIN_TOKEN_LENGTH, min(len(word), PREFIX_LENGTH) + 1)


def prefix_key(prefix: str) -> str:
    """The stored entry that every product with a token starting with `prefix` carries."""
    return prefix[:PREFIX_LENGTH] + PREFIX_MARK


# The condition on `search_terms` of products stored without prefix entries (written before they
# existed): no term ends with the mark.
WITHOUT_PREFIX_ENTRIES = {"$not": re.compile(re.escape(PREFIX_MARK) + "$")}


@dataclass(frozen=True)
class SearchPlan:
    """How a search is read: one exact index key, and the full condition checked on what it finds."""

    key: str  # a value of `search_terms` every match carries
    condition: Document  # every word matches: whole words exactly, the last as a prefix


def search_plan(query: str) -> SearchPlan | None:
    """The plan of a search query, or None when it holds no searchable token."""
    asked = _distinct(tokens(query))[:MAX_QUERY_TOKENS]
    if not asked:
        return None
    *whole, last = asked
    # The longest word is likely the rarest; a whole word is its own key, the last word's key is its
    # (possibly shortened) prefix entry.
    candidates = [(len(word), word) for word in whole] + [(min(len(last), PREFIX_LENGTH), prefix_key(last))]
    key = max(candidates)[1]
    prefix = Regex("^" + re.escape(last))
    if not whole:
        # `$regex`, not a bare regex value: MongoDB takes both, the embedded server only this one
        # (tests/catalog/test_seed.py found it).
        return SearchPlan(key, {"search_terms": {"$regex": prefix.pattern}})
    return SearchPlan(key, {"search_terms": {"$all": [*whole, prefix]}})


def _distinct(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def name_key(name: str) -> str:
    """Sort key for names: case- and accent-insensitive."""
    return " ".join(tokens(name)) or name.casefold()
