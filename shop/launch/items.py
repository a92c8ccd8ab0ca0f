"""One line of the launch check, and the verdict over all of them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["PASS", "FAIL", "WARN"]


@dataclass(frozen=True)
class Item:
    name: str
    status: Status
    detail: str
    fix: str = ""

    @property
    def blocking(self) -> bool:
        return self.status == "FAIL"


def passed(name: str, detail: str) -> Item:
    return Item(name, "PASS", detail)


def failed(name: str, detail: str, fix: str) -> Item:
    return Item(name, "FAIL", detail, fix)


def warned(name: str, detail: str, fix: str) -> Item:
    return Item(name, "WARN", detail, fix)


def check(name: str, problems: list[str], ok: str, fix: str) -> Item:
    """PASS with `ok`, or FAIL naming every problem."""
    return failed(name, "; ".join(problems), fix) if problems else passed(name, ok)


def verdict(items: list[Item]) -> str:
    blocking = sum(item.blocking for item in items)
    return "READY" if blocking == 0 else f"NOT READY ({blocking} blocking)"
