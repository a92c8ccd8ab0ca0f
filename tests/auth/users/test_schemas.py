"""What a registration accepts as a name: one line of text, bounded, no control characters."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.auth.users.schemas import RegisterRequest


def register_with(name: object) -> RegisterRequest:
    return RegisterRequest.model_validate(
        {
            "email": "ada@example.com",
            "password": "a long test passphrase",  # pragma: allowlist secret
            "name": name,
        }
    )


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("  Ada  ", "Ada"),
        ("Zoë O'Brien-Łukasiewicz", "Zoë O'Brien-Łukasiewicz"),
        ("山田 太郎", "山田 太郎"),
        ("Dev 👩\u200d💻", "Dev 👩\u200d💻"),  # a zero-width joiner is a format character, not a control
        ("x" * 100, "x" * 100),
    ],
)
def test_real_names_are_accepted(name: str, stored: str) -> None:
    assert register_with(name).name == stored


@pytest.mark.parametrize(
    "name",
    [
        "Ada\x00Lovelace",  # NUL
        "Ada\x1b[31m",  # ESC: terminal escapes in logs
        "Ada\x7f",  # DEL
        "Ada\x85Lovelace",  # NEL, a C1 control
        "Ada\x9b31m",  # CSI, a C1 control
        "Ada\nLovelace",
        "Ada\r\nSubject: hi",
        "Ada\tLovelace",
        "Ada\rLovelace",
        "Ada\u2028Lovelace",  # line separator
    ],
)
def test_control_characters_and_line_breaks_are_refused(name: str) -> None:
    with pytest.raises(ValidationError) as refused:
        register_with(name)
    assert refused.value.errors()[0]["loc"] == ("name",)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, 5, None])
def test_names_are_bounded_strings(name: object) -> None:
    with pytest.raises(ValidationError):
        register_with(name)
