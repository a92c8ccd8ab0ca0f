"""Every problem type means one thing: one title and one status per slug, across all processes."""

from __future__ import annotations

import importlib
import pkgutil
from collections import defaultdict

from shared.errors import AppError

PACKAGES = ("shared", "services", "gateway")


def every_error_class() -> list[type[AppError]]:
    for package in PACKAGES:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            importlib.import_module(module.name)
    found: list[type[AppError]] = []
    pending = [AppError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.append(subclass)
            pending.append(subclass)
    return found


def test_each_slug_has_one_title_and_one_status() -> None:
    meanings: dict[str, set[tuple[str, int]]] = defaultdict(set)
    owners: dict[str, list[str]] = defaultdict(list)
    classes = every_error_class()
    for error in classes:
        meanings[error.slug].add((error.title, error.status))
        owners[error.slug].append(f"{error.__module__}.{error.__qualname__}")
    ambiguous = {slug: (sorted(meanings[slug]), owners[slug]) for slug in meanings if len(meanings[slug]) > 1}
    assert ambiguous == {}
    assert len(classes) > 40  # the walk found the services' errors, not only the shared ones
