"""Free text on the wire: bounded in length and free of control characters.

Names, titles and reasons end up in HTML pages, CSV exports, e-mails and log lines. A NUL truncates
strings in C-based tools, a carriage return or an ANSI escape (ESC, C0) rewrites terminal lines and
forges log entries, C1 controls (U+0080-U+009F) are read as escapes by some terminals, and a lone
surrogate cannot even be encoded as UTF-8, so storing it would fail after validation. Text is
therefore refused (422) when it holds any of them:

- `SingleLineText(max_length)`: names, SKUs, titles. No control character at all, no line break
  (including U+2028/U+2029); surrounding whitespace is stripped; empty is refused by default.
- `MultiLineText(max_length)`: descriptions, reasons. Newline and tab are allowed; a Windows line
  break (CR LF, what an HTML form submits) is stored as a plain newline; any other control character
  is refused. Kept as sent otherwise (stripped only with `strip=True`: indentation may matter).

Use them as pydantic metadata: `name: Annotated[str, SingleLineText(200)]`. The OpenAPI schema
carries the length bounds and a `pattern`, so clients and schema-driven fuzzers see the rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

# C0 controls, DEL, C1 controls: refused everywhere (tab and newline are added back for multi-line text).
_CONTROLS = "\x00-\x08\x0b-\x1f\x7f-\x9f"
_LINE_BREAKS = "\t\n\u2028\u2029"
_SURROGATES = "\ud800-\udfff"
_SINGLE_LINE_REFUSED = re.compile(f"[{_CONTROLS}{_LINE_BREAKS}{_SURROGATES}]")
_MULTI_LINE_REFUSED = re.compile(f"[{_CONTROLS}{_SURROGATES}]")
# The same rules as ECMA-262 patterns for the OpenAPI document (surrogates cannot be written there).
_SINGLE_LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
_MULTI_LINE_PATTERN = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$"


def _refusing(pattern: re.Pattern[str], what: str, *, crlf_to_lf: bool = False) -> Any:
    """A check of the raw text, run before stripping: a trailing NEL (U+0085) or U+001F is whitespace
    to `str.strip`, and would otherwise be dropped silently instead of refused."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value  # the string schema refuses it
        if crlf_to_lf:
            value = value.replace("\r\n", "\n")
        if pattern.search(value):
            raise PydanticCustomError("control_characters", "must not contain {what}", {"what": what})
        return value

    return check


@dataclass(frozen=True)
class SingleLineText:
    """One line of text: no control characters or line breaks, stripped, `min_length`..`max_length`."""

    max_length: int
    min_length: int = 1

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        text = core_schema.str_schema(
            strip_whitespace=True, min_length=self.min_length, max_length=self.max_length
        )
        check = _refusing(_SINGLE_LINE_REFUSED, "control characters or line breaks")
        return core_schema.no_info_before_validator_function(check, text)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": _SINGLE_LINE_PATTERN}


@dataclass(frozen=True)
class MultiLineText:
    """Text that may span lines (newline, tab): no other control characters, at most `max_length`."""

    max_length: int
    min_length: int = 0
    strip: bool = False  # strip surrounding whitespace (so "   " cannot pass a min_length of 1)

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        text = core_schema.str_schema(
            strip_whitespace=self.strip, min_length=self.min_length, max_length=self.max_length
        )
        what = "control characters other than newline and tab"
        return core_schema.no_info_before_validator_function(
            _refusing(_MULTI_LINE_REFUSED, what, crlf_to_lf=True), text
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {**handler(schema), "pattern": _MULTI_LINE_PATTERN}
