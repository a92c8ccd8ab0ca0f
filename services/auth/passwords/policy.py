"""Password policy after NIST SP 800-63B: length limits and a blocklist, no composition rules.

A password is measured in Unicode code points after NFKC normalisation, so the same password typed
on different keyboards or platforms (precomposed or combining accents, full-width digits) counts and
hashes the same; `normalize_password` is also what the hasher hashes. It is rejected when it is too
short or too long, one of the common passwords Django ships (see NOTICE), such a password with only
digits or symbols added, one short unit repeated, a run of consecutive characters (digits, the
alphabet, keyboard rows), or when it contains the name part of the user's email address.

Messages never repeat the password (nor the email): they end up in 422 responses and logs.
"""

from __future__ import annotations

import gzip
import unicodedata
from functools import cache
from importlib import resources

MIN_PASSWORD_LENGTH = 12
# The upper bound keeps the cost of normalising and hashing a password bounded; 256 code points is
# far more than any passphrase or password manager needs. It counts the password as sent (what a
# JSON Schema `maxLength` counts), so the published schema states the exact bound.
MAX_PASSWORD_LENGTH = 256

MESSAGE_TOO_SHORT = f"Use at least {MIN_PASSWORD_LENGTH} characters."
MESSAGE_TOO_LONG = f"Use at most {MAX_PASSWORD_LENGTH} characters."
MESSAGE_COMMON = "This is one of the most commonly used passwords."
MESSAGE_COMMON_WITH_SUFFIX = "This is a commonly used password with only digits or symbols added."
MESSAGE_REPEATED = "This password repeats a short pattern."
MESSAGE_SEQUENCE = (
    "This password is a predictable run of characters, such as consecutive digits, letters in "
    "alphabetical order or keys along a keyboard row."
)
MESSAGE_CONTAINS_EMAIL = "This password contains the name part of your email address."
MESSAGE_INVALID_CHARACTERS = "This password contains characters that are not valid Unicode text."

_COMMON_PASSWORDS_FILE = "common-passwords.txt.gz"

# Up to this many arbitrary characters may follow a repeated unit or a run ("aaaaaaaaaaa1",
# "abcdefghij!?") and the password is still that pattern.
_PATTERN_TAIL = 2
_MIN_RUN = 3
_MIN_EMAIL_NAME = 3


class _Alphabet:
    """An ordering of characters along which a run steps: digits, letters, a keyboard row."""

    def __init__(self, characters: str, *, cyclic: bool, any_step: bool) -> None:
        self.size = len(characters)
        self.index = {character: position for position, character in enumerate(characters)}
        assert len(self.index) == self.size, characters
        self.cyclic = cyclic
        self.any_step = any_step

    def step(self, first: str, second: str) -> int | None:
        """The step from `first` to `second` if it can be part of a run, else None."""
        if first not in self.index or second not in self.index:
            return None
        step = self.index[second] - self.index[first]
        if self.cyclic:
            step %= self.size
            if self.any_step:
                return step or None
            return step if step in (1, self.size - 1) else None
        if self.any_step:
            return step or None
        return step if step in (1, -1) else None


_ALPHABETS = (
    # "7890123" and "13579135" are as guessable as "1234567": any steady step, wrapping around.
    _Alphabet("0123456789", cyclic=True, any_step=True),
    _Alphabet("abcdefghijklmnopqrstuvwxyz", cyclic=False, any_step=False),
    # Keyboard walks, either way; the letter rows run on into each other ("qwertyuiopas").
    _Alphabet("1234567890qwertyuiopasdfghjklzxcvbnm", cyclic=False, any_step=False),
    _Alphabet("`1234567890-=", cyclic=False, any_step=False),
    _Alphabet("~!@#$%^&*()_+", cyclic=False, any_step=False),
    _Alphabet("qwertyuiop[]\\", cyclic=False, any_step=False),
    _Alphabet("asdfghjkl;'", cyclic=False, any_step=False),
    _Alphabet("zxcvbnm,./", cyclic=False, any_step=False),
    _Alphabet("qwertzuiopasdfghjklyxcvbnm", cyclic=False, any_step=False),  # QWERTZ
    _Alphabet("azertyuiopqsdfghjklmwxcvbn", cyclic=False, any_step=False),  # AZERTY
    _Alphabet("1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", cyclic=False, any_step=False),  # columns
    _Alphabet("1q2w3e4r5t6y7u8i9o0p", cyclic=False, any_step=False),
)


def normalize_password(password: str) -> str:
    """The password in NFKC form: what is measured, checked and hashed."""
    return unicodedata.normalize("NFKC", password)


@cache
def common_passwords() -> frozenset[str]:
    """The shipped common-password list (lowercased, NFKC), read once on first use."""
    data = resources.files(__name__.rpartition(".")[0]).joinpath(_COMMON_PASSWORDS_FILE).read_bytes()
    return frozenset(line for line in gzip.decompress(data).decode("utf-8").splitlines() if line)


def password_problems(password: str, *, email: str | None = None) -> list[str]:
    """Why `password` is not acceptable, as human-readable messages; an empty list means it is."""
    if len(password) > MAX_PASSWORD_LENGTH:
        return [MESSAGE_TOO_LONG]
    if not _is_valid_text(password):
        return [MESSAGE_INVALID_CHARACTERS]
    normalized = normalize_password(password)

    problems: list[str] = []
    if len(normalized) < MIN_PASSWORD_LENGTH:
        problems.append(MESSAGE_TOO_SHORT)

    lowered = normalized.lower()
    common = common_passwords()
    if lowered in common:
        problems.append(MESSAGE_COMMON)
    else:
        stem = _strip_trailing_digits_and_symbols(lowered)
        # A common password padded to the minimum length ("Password2024!") is as guessable as the
        # password itself; a long phrase that happens to end in a digit is not.
        if stem and stem != lowered and stem in common and len(stem) < MIN_PASSWORD_LENGTH:
            problems.append(MESSAGE_COMMON_WITH_SUFFIX)

    if _is_repeated_unit(lowered):
        problems.append(MESSAGE_REPEATED)
    elif _is_runs(lowered):
        problems.append(MESSAGE_SEQUENCE)

    if email is not None and _contains_email_name(normalized, email):
        problems.append(MESSAGE_CONTAINS_EMAIL)
    return problems


def _is_valid_text(password: str) -> bool:
    """False for lone surrogates, which JSON allows but no keyboard types and UTF-8 cannot carry."""
    try:
        password.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _strip_trailing_digits_and_symbols(text: str) -> str:
    """`text` without its trailing digits, punctuation, symbols and spaces ("password2024!" -> "password")."""
    end = len(text)
    while end > 0 and unicodedata.category(text[end - 1])[0] in "NPSZ":
        end -= 1
    return text[:end]


def _is_repeated_unit(text: str) -> bool:
    """True when `text`, but for a short tail, is a unit shorter than the minimum repeated at least twice."""
    for tail in range(min(_PATTERN_TAIL, len(text)) + 1):
        body = text[: len(text) - tail]
        period = _smallest_period(body)
        if len(body) >= 2 and period < MIN_PASSWORD_LENGTH and 2 * period <= len(body):
            return True
    return False


def _smallest_period(text: str) -> int:
    """The smallest p such that text[i] == text[i - p] for every i >= p (prefix function)."""
    border = [0] * len(text)
    for position in range(1, len(text)):
        length = border[position - 1]
        while length and text[position] != text[length]:
            length = border[length - 1]
        if text[position] == text[length]:
            length += 1
        border[position] = length
    return len(text) - (border[-1] if text else 0)


def _is_runs(text: str) -> bool:
    """True when `text`, but for a short tail, splits into runs of 3+ predictable characters.

    A run is one character repeated or a steady step along an alphabet ("abcdef", "13579",
    "qwerty", "1qaz2wsx"); "abc123456789" is two runs, "aaaa1111bbbb" three.
    """
    if len(text) < _MIN_RUN:
        return False
    reachable = [False] * (len(text) + 1)
    reachable[0] = True
    for start in range(len(text)):
        if reachable[start]:
            end = _longest_run_end(text, start)
            for stop in range(start + _MIN_RUN, end + 1):
                reachable[stop] = True
    return any(reachable[len(text) - tail] for tail in range(min(_PATTERN_TAIL, len(text)) + 1))


def _longest_run_end(text: str, start: int) -> int:
    """The end (exclusive) of the longest run starting at `start`; every shorter prefix is a run too."""
    if start + 1 >= len(text):
        return start + 1
    first, second = text[start], text[start + 1]
    repeated = first == second
    steps = {
        number: step
        for number, alphabet in enumerate(_ALPHABETS)
        if (step := alphabet.step(first, second)) is not None
    }
    if not (repeated or steps):
        return start + 1
    end = start + 2
    while end < len(text):
        previous, current = text[end - 1], text[end]
        repeated = repeated and previous == current
        steps = {
            number: step
            for number, step in steps.items()
            if _ALPHABETS[number].step(previous, current) == step
        }
        if not (repeated or steps):
            break
        end += 1
    return end


def _contains_email_name(normalized_password: str, email: str) -> bool:
    """True when the password contains the email's local part, or that part before a "+tag"."""
    local_part = normalize_password(email).rpartition("@")[0] or email
    names = {local_part, local_part.partition("+")[0]}
    folded = normalized_password.casefold()
    return any(len(name) >= _MIN_EMAIL_NAME and name.casefold() in folded for name in names)
