"""Fail on anything that looks like a committed secret.

    python -m devtools.secret_scan [paths...]

Without paths it scans, from the repository root, every file `git ls-files` lists plus untracked files
that are not ignored (`git ls-files --others --exclude-standard`). A directory argument is expanded the
same way inside a Git work tree, and walked otherwise.

Each finding is printed as `path:line: rule (hint)`, never with the value: the hint is at most the
first four characters of a token (its well-known prefix), the setting name or the URI scheme. Exit
status: 0 with a one-line summary when nothing is found, 1 when something is, 2 when a path cannot be
listed or read.

A line containing the marker `secret-scan: allow` is skipped; it is for clearly fake values, and no
directory (not even tests/) is exempt without it. Binary files (a NUL byte in the first 8 KiB),
symlinks and files over 1 MiB are skipped. See docs/secrets.md.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

ALLOW_MARKER = "secret-scan: allow"
MAX_FILE_BYTES = 1024 * 1024
BINARY_SNIFF_BYTES = 8192
HINT_LENGTH = 4
MIN_LITERAL_LENGTH = 8

EXIT_CLEAN = 0
EXIT_FOUND = 1
EXIT_ERROR = 2

# --- names, references and placeholders ------------------------------------------------------------

# Setting names that hold a secret; SIGNING_KEY because JWT_SIGNING_KEY is a private key.
SENSITIVE_NAME = re.compile(
    r"SECRET|TOKEN|PASSWORD|PASSWD|API[_-]?KEY|PRIVATE[_-]?KEY|SIGNING[_-]?KEY", re.IGNORECASE
)
# Names that say where a secret lives rather than hold it (INTERNAL_TOKEN_FILE=/run/secrets/...).
LOCATION_NAME = re.compile(r"[_.-](?:FILE|PATH|DIR|URL|URI)$", re.IGNORECASE)
# The value is looked up elsewhere: ${VAR}, ${VAR:?message}, $VAR, {{ template }}, {format_field}, %(ini)s.
REFERENCE = re.compile(r"\$\{|^\$[A-Za-z_]|\{\{|^\{[A-Za-z_][\w.]*\}$|%\([\w.]+\)s")
PLACEHOLDER = re.compile(
    r"""^(?:
        <[^>]*>                      # <your api key>
      | your[-_].*                   # your-stripe-key
      | .*change[-_]?(?:me|this).*   # changeme, change-me, CHANGE_THIS
      | .*example.*                  # example-password
      | .*xxx.*                      # a key written as a run of x's
      | (?P<char>.)(?P=char)*        # ******** (any one character repeated)
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
# `NAME=value` or `NAME: value`, optionally as a YAML list item, after `export`, or a Dockerfile ENV/ARG.
ASSIGNMENT = re.compile(
    r"""^\s*(?:-\s+)?(?:(?:export|ENV|ARG)\s+)?["']?(?P<name>[A-Za-z_][\w.-]*)["']?\s*(?:=|:(?=\s|$))(?P<value>.*)$"""
)
INLINE_COMMENT = re.compile(r"(?:^|\s+)#")


def is_placeholder(value: str) -> bool:
    """True for an empty value, a reference to a value kept elsewhere, or an obvious placeholder."""
    return not value or REFERENCE.search(value) is not None or PLACEHOLDER.match(value) is not None


def literal_value(raw: str) -> str:
    """The value of an assignment as written: surrounding quotes removed, a trailing # comment dropped."""
    raw = raw.strip()
    if raw[:1] in {'"', "'"}:
        end = raw.find(raw[0], 1)
        return raw[1:end] if end > 0 else raw[1:]
    return INLINE_COMMENT.split(raw, maxsplit=1)[0].strip()


def is_env_style(file_name: str) -> bool:
    """Files whose lines are settings: .env*, *.env, YAML, TOML, INI, CFG and Dockerfiles."""
    name = file_name.lower()
    return (
        name.startswith(".env")
        or name.endswith((".env", ".yml", ".yaml", ".toml", ".ini", ".cfg", ".dockerfile"))
        or name == "dockerfile"
        or name.startswith("dockerfile.")
    )


# --- how each rule confirms a match and what it may print -------------------------------------------


def _every_file(file_name: str) -> bool:
    return True


def _always(match: re.Match[str]) -> bool:
    return True


def _prefix_hint(match: re.Match[str]) -> str:
    # The first four characters are the token's public prefix (sk_l, AKIA, ghp_, eyJh), never key material.
    return match[0][:HINT_LENGTH] + "..."


def _no_hint(match: re.Match[str]) -> str:
    return ""


def _key_kind(match: re.Match[str]) -> str:
    return match["kind"].strip() or "PRIVATE KEY"


def _uri_password_is_literal(match: re.Match[str]) -> bool:
    return not is_placeholder(match["password"])


def _uri_scheme(match: re.Match[str]) -> str:
    return match["scheme"] + "://"


def _setting_name(match: re.Match[str]) -> str:
    return match["name"]


def _assigns_literal_secret(match: re.Match[str]) -> bool:
    value = literal_value(match["value"])
    if value.startswith("{") and value.endswith("}"):
        # A YAML flow mapping (compose `internal_token: {file: ./secrets/internal_token}`): judge each pair.
        pairs = (pair.partition(":") for pair in value[1:-1].split(","))
        return any(_is_literal_secret(key.strip(), literal_value(inner)) for key, _, inner in pairs)
    if value.startswith("[") and value.endswith("]"):
        return False  # a YAML flow list names things (compose `secrets: [internal_token]`)
    return _is_literal_secret(match["name"], value)


def _is_literal_secret(name: str, value: str) -> bool:
    if not SENSITIVE_NAME.search(name) or LOCATION_NAME.search(name):
        return False
    return len(value) >= MIN_LITERAL_LENGTH and not value.isdigit() and not is_placeholder(value)


@dataclass(frozen=True)
class Rule:
    """A named pattern: `line` rules run on each line of the files they apply to, `file-name` on names."""

    name: str
    pattern: re.Pattern[str]
    scope: Literal["line", "file-name"] = "line"
    applies_to: Callable[[str], bool] = field(default=_every_file)
    confirm: Callable[[re.Match[str]], bool] = field(default=_always)
    hint: Callable[[re.Match[str]], str] = field(default=_prefix_hint)


_BOUNDARY = r"(?<![0-9A-Za-z])"

RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        re.compile(r"-----BEGIN (?P<kind>[A-Z0-9 ]*)PRIVATE KEY(?: BLOCK)?-----"),
        hint=_key_kind,
    ),
    Rule("stripe-secret-key", re.compile(_BOUNDARY + r"sk_(?:live|test)_[0-9A-Za-z]{16,}")),
    Rule("stripe-restricted-key", re.compile(_BOUNDARY + r"rk_(?:live|test)_[0-9A-Za-z]{16,}")),
    Rule("stripe-webhook-secret", re.compile(_BOUNDARY + r"whsec_[0-9A-Za-z]{20,}")),
    Rule("aws-access-key-id", re.compile(r"(?<![0-9A-Z])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Z])")),
    Rule(
        "github-token",
        re.compile(r"(?<![0-9A-Za-z_])(?:gh[pousr]_[0-9A-Za-z]{36,}|github_pat_[0-9A-Za-z_]{22,})"),
    ),
    Rule("slack-token", re.compile(_BOUNDARY + r"xox[abeoprs]-[0-9A-Za-z-]{10,}")),
    Rule(
        "slack-webhook-url",
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[0-9A-Za-z/_-]{20,}"),
        hint=lambda match: "hooks.slack.com",
    ),
    Rule("google-api-key", re.compile(r"(?<![0-9A-Za-z_-])AIza[0-9A-Za-z_-]{35}")),
    Rule(
        "jwt",
        re.compile(r"(?<![0-9A-Za-z_-])eyJ[0-9A-Za-z_-]{17,}\.[0-9A-Za-z_-]{20,}\.[0-9A-Za-z_-]{20,}"),
    ),
    Rule(
        "uri-with-password",
        re.compile(
            r"\b(?P<scheme>mongodb(?:\+srv)?|rediss?|postgres(?:ql)?(?:\+\w+)?)://"
            r"(?P<user>[^\s:/?#@'\"]*):(?P<password>[^\s/?#@'\"]+)@"
        ),
        confirm=_uri_password_is_literal,
        hint=_uri_scheme,
    ),
    Rule(
        "secret-assignment",
        ASSIGNMENT,
        applies_to=is_env_style,
        confirm=_assigns_literal_secret,
        hint=_setting_name,
    ),
    # Only .env.example belongs in the repository; a real .env holds local values, secrets included.
    Rule(
        "committed-env-file",
        re.compile(r"^\.env(?!\.example$)(?:\..+)?$"),
        scope="file-name",
        hint=_no_hint,
    ),
)


# --- scanning ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    rule: str
    hint: str = ""

    def __str__(self) -> str:
        suffix = f" ({self.hint})" if self.hint else ""
        return f"{self.path}:{self.line}: {self.rule}{suffix}"


@dataclass(frozen=True)
class Target:
    """A file to scan: where it is on disk and how findings name it."""

    path: Path
    display: str


@dataclass
class Report:
    scanned: int = 0
    skipped: int = 0
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class ScanError(Exception):
    """What was asked for cannot be listed (not a Git work tree, a path that does not exist)."""


def scan_text(display: str, file_name: str, text: str) -> list[Finding]:
    """Findings of every line rule that applies to a file of this name; lines with the marker are skipped."""
    rules = [rule for rule in RULES if rule.scope == "line" and rule.applies_to(file_name)]
    findings: list[Finding] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if ALLOW_MARKER in line:
            continue
        for rule in rules:
            match = next((m for m in rule.pattern.finditer(line) if rule.confirm(m)), None)
            if match is not None:
                findings.append(Finding(display, number, rule.name, rule.hint(match)))
    return findings


def scan_file_name(display: str, file_name: str) -> list[Finding]:
    return [
        Finding(display, 1, rule.name, rule.hint(match))
        for rule in RULES
        if rule.scope == "file-name" and (match := rule.pattern.search(file_name)) is not None
    ]


def read_text(path: Path) -> str | None:
    """The file's text, or None for what is not scanned: symlinks, missing, over 1 MiB, binary."""
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
        return None
    data = path.read_bytes()
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return None
    return data.decode("utf-8", errors="replace")


def scan(targets: Iterable[Target]) -> Report:
    report = Report()
    for target in targets:
        try:
            text = read_text(target.path)
        except OSError as exc:
            report.errors.append(f"{target.display}: cannot read ({exc.strerror or exc})")
            continue
        if text is None:
            report.skipped += 1
            continue
        report.scanned += 1
        report.findings += scan_file_name(target.display, target.path.name)
        report.findings += scan_text(target.display, target.path.name, text)
    return report


# --- what to scan -----------------------------------------------------------------------------------


def _git(directory: Path, *args: str) -> bytes | None:
    git = shutil.which("git")
    if git is None:
        return None
    # Fixed arguments and a directory we were given: no shell, nothing interpolated.
    result = subprocess.run([git, "-C", str(directory), *args], capture_output=True, check=False)  # noqa: S603
    return result.stdout if result.returncode == 0 else None


def repository_root(start: Path) -> Path | None:
    output = _git(start, "rev-parse", "--show-toplevel")
    return Path(os.fsdecode(output.strip())) if output else None


def git_files(directory: Path) -> list[Path] | None:
    """Tracked plus untracked-but-not-ignored files under directory, relative to it; None outside Git."""
    output = _git(directory, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    if output is None:
        return None
    names = dict.fromkeys(os.fsdecode(name) for name in output.split(b"\0") if name)
    return [Path(name) for name in names]


def walked_files(directory: Path) -> list[Path]:
    found: list[Path] = []
    for current, subdirectories, files in os.walk(directory):
        subdirectories[:] = sorted(name for name in subdirectories if name != ".git")
        found += [(Path(current) / name).relative_to(directory) for name in sorted(files)]
    return found


def collect_targets(paths: Sequence[Path]) -> list[Target]:
    if not paths:
        root = repository_root(Path.cwd())
        listed = git_files(root) if root is not None else None
        if root is None or listed is None:
            raise ScanError("not inside a Git work tree; pass the paths to scan")
        return [Target(root / name, name.as_posix()) for name in listed]
    targets: list[Target] = []
    for path in paths:
        if path.is_dir():
            names = git_files(path)
            if names is None:
                names = walked_files(path)
            targets += [Target(path / name, (path / name).as_posix()) for name in names]
        elif path.is_file() or path.is_symlink():
            targets.append(Target(path, str(path)))
        else:
            raise ScanError(f"{path}: no such file or directory")
    return targets


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.secret_scan",
        description="Fail on anything that looks like a committed secret (see docs/secrets.md).",
    )
    parser.add_argument(
        "paths", nargs="*", type=Path, help="files or directories (default: the Git repository's files)"
    )
    paths: list[Path] = parser.parse_args(argv).paths
    try:
        report = scan(collect_targets(paths))
    except ScanError as exc:
        print(f"secret-scan: {exc}", file=sys.stderr)
        return EXIT_ERROR
    for error in report.errors:
        print(f"secret-scan: {error}", file=sys.stderr)
    for finding in report.findings:
        print(finding)
    if report.findings:
        files = len({finding.path for finding in report.findings})
        print(
            f"secret-scan: {_plural(len(report.findings), 'possible secret')} in {_plural(files, 'file')}. "
            f"Remove each one (and rotate it if it was real); mark a clearly fake value with "
            f"'{ALLOW_MARKER}' on its line. See docs/secrets.md."
        )
        return EXIT_FOUND
    if report.errors:
        return EXIT_ERROR
    print(
        f"secret-scan: no secrets found in {_plural(report.scanned, 'file')} "
        f"({report.skipped} skipped: binary, over 1 MiB, symlink or missing)"
    )
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
