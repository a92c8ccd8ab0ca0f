"""The password policy (NIST SP 800-63B): length in code points, the common list, patterns, the email."""

from __future__ import annotations

import pytest

from services.auth.passwords.policy import (
    MAX_PASSWORD_LENGTH,
    MESSAGE_COMMON,
    MESSAGE_COMMON_WITH_SUFFIX,
    MESSAGE_CONTAINS_EMAIL,
    MESSAGE_INVALID_CHARACTERS,
    MESSAGE_REPEATED,
    MESSAGE_SEQUENCE,
    MESSAGE_TOO_LONG,
    MESSAGE_TOO_SHORT,
    MIN_PASSWORD_LENGTH,
    common_passwords,
    normalize_password,
    password_problems,
)


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple 7",
        "correct horse battery staple",
        "9f$Kq2!vLz8#",
        "Tr0ub4dor&3xyz",
        "xyz938472615",  # a short run followed by random digits is not a run
        "michael.smith99",
        "no composition rules at all",  # lowercase only, no digits, no symbols
        "ALL UPPER CASE PHRASE",
        "x" * 4 + "7" * 4 + "q" + "w" + "!" + "m" * 3 + "z2",  # short runs among other characters
    ],
)
def test_acceptable_passwords_have_no_problems(password: str) -> None:
    assert password_problems(password) == []


def test_minimum_and_maximum_lengths_are_inclusive() -> None:
    assert MIN_PASSWORD_LENGTH == 12
    assert MAX_PASSWORD_LENGTH == 256
    assert password_problems("tk9#wq2!mz7" + "p") == []
    assert password_problems("tk9#wq2!mz7") == [MESSAGE_TOO_SHORT]
    long_enough = ("plum tiger 7 " * 20)[:MAX_PASSWORD_LENGTH]
    assert MESSAGE_TOO_LONG not in password_problems(long_enough)
    assert password_problems(long_enough + "q") == [MESSAGE_TOO_LONG]


def test_an_enormous_password_is_too_long_without_further_checks() -> None:
    assert password_problems("a" * 1_000_000) == [MESSAGE_TOO_LONG]


def test_length_is_counted_in_code_points_after_nfkc() -> None:
    # "résumé café" typed with combining accents: 14 code points as sent, 11 once normalised.
    decomposed = "re\u0301sume\u0301 cafe\u0301"
    assert len(decomposed) == 14
    assert len(normalize_password(decomposed)) == 11
    assert password_problems(decomposed) == [MESSAGE_TOO_SHORT]
    assert password_problems(decomposed + "!") == []
    assert password_problems("éñüçàøåßœæî") == [MESSAGE_TOO_SHORT]
    assert password_problems("éñüçàøåßœæîë") == []
    # Twelve emoji are twelve code points, not 48 bytes.
    assert password_problems("🐱🐶🐭🐹🐰🦊🐻🐼🐨🐯🦁🐮") == []
    # A ligature expands under NFKC: "ﬁ" is "fi".
    assert len(normalize_password("ﬁ" * 6)) == 12


def test_non_latin_passwords_are_accepted() -> None:
    assert password_problems("пароль надёжный ёж") == []
    assert password_problems("パスワードはとても長い") == [MESSAGE_TOO_SHORT]
    assert password_problems("パスワードはとても長いです") == []


def test_common_list_is_loaded_once_and_lowercased() -> None:
    first = common_passwords()
    assert first is common_passwords()
    assert len(first) > 19_000
    assert {"password", "iloveyou", "qwertyuiop", "123456"} <= first
    assert all(entry == entry.lower().strip() and entry for entry in first)


@pytest.mark.parametrize("password", ["qwerty123456", "QWERTY123456", "1qaz2wsx3edc", "password", "PassWord"])
def test_common_passwords_are_rejected_whatever_the_case(password: str) -> None:
    assert MESSAGE_COMMON in password_problems(password)


@pytest.mark.parametrize(
    "password",
    ["Password2024!", "iloveyou123456", "Summer2024!!", "sunshine-2000", "Football #1234", "p@ssw0rd1234"],
)
def test_common_password_with_digits_or_symbols_added_is_rejected(password: str) -> None:
    assert password_problems(password) == [MESSAGE_COMMON_WITH_SUFFIX]


def test_full_width_characters_are_normalised_before_the_list_check() -> None:
    full_width = "".join(chr(ord(character) + 0xFEE0) for character in "PASSWORD2024!")
    assert full_width != "PASSWORD2024!"
    assert normalize_password(full_width) == "PASSWORD2024!"
    assert password_problems(full_width) == [MESSAGE_COMMON_WITH_SUFFIX]


@pytest.mark.parametrize(
    "password",
    ["abcabcabcabc", "aaaaaaaaaaaa", "121212121212", "hunter2hunter2", "monkeymonkey1", "            "],
)
def test_one_short_unit_repeated_is_rejected(password: str) -> None:
    assert MESSAGE_REPEATED in password_problems(password)


def test_a_long_unit_repeated_is_not_a_short_pattern() -> None:
    assert password_problems("blue cactus river " * 2) == []


@pytest.mark.parametrize(
    "password",
    [
        "123456789012",
        "7890123456789",
        "abcdefghijkl",
        "zyxwvutsrqpo",
        "qwertyuiopas",
        "mnbvcxzlkjhg",
        "abc123456789",  # pragma: allowlist secret
        "aaaa1111bbbb",
        "abcdefghijk!",
        "1qaz2wsx3edc4rfv5tgb",
        "azertyuiopqsd",
    ],
)
def test_runs_of_digits_letters_and_keyboard_rows_are_rejected(password: str) -> None:
    assert MESSAGE_SEQUENCE in password_problems(password)


def test_password_containing_the_email_name_is_rejected_case_insensitively() -> None:
    email = "John.Smith@example.com"
    assert password_problems("my friend jOHN.smith rocks", email=email) == [MESSAGE_CONTAINS_EMAIL]
    assert password_problems("my friend john smith rocks", email=email) == []
    assert password_problems("my friend jOHN.smith rocks") == []


def test_email_subaddress_tag_does_not_hide_the_name() -> None:
    assert password_problems("tall trees by anna again", email="anna+shop@example.com") == [
        MESSAGE_CONTAINS_EMAIL
    ]


def test_short_email_names_are_ignored() -> None:
    assert password_problems("jo and the blue whale", email="jo@example.com") == []
    assert password_problems("joe and the blue whale", email="joe@example.com") == [MESSAGE_CONTAINS_EMAIL]


def test_lone_surrogates_are_refused() -> None:
    assert password_problems("\ud800" * 12) == [MESSAGE_INVALID_CHARACTERS]


@pytest.mark.parametrize(
    ("password", "email"),
    [
        ("short1", None),
        ("x" * (MAX_PASSWORD_LENGTH + 1), None),
        ("iloveyou", None),
        ("Password2024!", None),
        ("abcabcabcabc", None),
        ("123456789012", None),
        ("my name is marguerite ok", "marguerite@example.com"),
    ],
)
def test_messages_never_contain_the_password_or_email(password: str, email: str | None) -> None:
    problems = password_problems(password, email=email)
    assert problems
    for message in problems:
        assert password.lower() not in message.lower()
        if email is not None:
            assert email.partition("@")[0] not in message.lower()
