"""The secret scan (detect-secrets with the shop's plugins, devtools/secret_scan.py): every kind of leak
the project guards against is found, and references, placeholders and the allowlist marker pass.

Every sample secret is assembled at run time from pieces and a deterministic filler, so this file
itself holds nothing the scanner would flag. The repository itself is scanned by `make check-secrets`.
"""

from __future__ import annotations

import base64
import json
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits

PLUGINS = REPO_ROOT / "devtools" / "secret_scan.py"
ALLOW_MARKER = "pragma: allowlist secret"


def fake(length: int, alphabet: str = ALNUM) -> str:
    """A fabricated value of mixed characters, the same on every run."""
    return "".join(alphabet[(i * 7 + 3) % len(alphabet)] for i in range(length))


@dataclass(frozen=True)
class Sample:
    rule: str
    file_name: str
    text: str
    secret: str  # must never be printed, beyond the first HINT_LENGTH characters
    line: int = 1

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.file_name}"


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _pem(kind: str) -> Sample:
    body = fake(64)
    header = "-----BEGIN " + kind + "PRIVATE KEY-----"
    footer = "-----END " + kind + "PRIVATE KEY-----"
    file_name = f"{kind.strip().lower() or 'pkcs8'}.pem"
    return Sample("private-key", file_name, f"# key\n{header}\n{body}\n{footer}\n", body, line=2)


def _token(rule: str, value: str, file_name: str = "client.py") -> Sample:
    return Sample(rule, file_name, f'API = "{value}"\n', value)


def _uri(scheme_and_user: str, password: str, rest: str) -> Sample:
    return Sample(
        "uri-with-password", "settings.py", f'URL = "{scheme_and_user}:{password}@{rest}"\n', password
    )


def _assignment(file_name: str, line_before_value: str, value: str, after: str = "") -> Sample:
    text = f"# settings\n{line_before_value}{value}{after}\n"
    return Sample("secret-assignment", file_name, text, value, line=2)


SECRET = fake(40)

SAMPLES = [
    _pem(""),
    _pem("RSA "),
    _pem("OPENSSH "),
    _token("stripe-secret-key", "sk_" + "live_" + fake(24)),
    _token("stripe-secret-key", "sk_" + "test_" + fake(24), "test_payments.py"),
    _token("stripe-restricted-key", "rk_" + "live_" + fake(24)),
    _token("stripe-webhook-secret", "wh" + "sec_" + fake(32)),
    _token("aws-access-key-id", "AK" + "IA" + fake(16, UPPER_DIGITS)),
    _token("github-token", "gh" + "p_" + fake(36)),
    _token("github-token", "github" + "_pat_" + fake(82), "ci.yml"),
    _token("slack-token", "xo" + "xb-" + fake(12, string.digits) + "-" + fake(24)),
    # The hint is the host, so nothing from the path may appear.
    _token(
        "slack-webhook-url",
        "https://hooks."
        + "slack.com/services/T"
        + fake(8, UPPER_DIGITS)
        + "/B"
        + fake(10, UPPER_DIGITS)
        + "/"
        + fake(24),
    ),
    _token("google-api-key", "AI" + "za" + fake(35, ALNUM + "_-")),
    _token(
        "jwt",
        ".".join(_b64(part) for part in ('{"alg":"HS256","typ":"JWT"}', '{"sub":"' + fake(20) + '"}'))
        + "."
        + fake(43),
    ),
    _uri("mongodb+srv://shop", fake(20), "cluster0.example.net/shop"),
    _uri("postgresql+asyncpg://app", fake(20), "pg.internal/app"),
    _uri("redis://", fake(20), "cache.internal:6379/0"),
    _assignment("production.env", "INTERNAL_TOKEN=", SECRET),
    _assignment(".env.example", "JWT_REFRESH_SECRET=", SECRET),
    _assignment(".envrc", "export STRIPE_API_KEY='", SECRET, "'"),
    _assignment("docker-compose.yml", '      JWT_SIGNING_KEY: "', SECRET, '"'),
    _assignment("compose.yaml", "      - INTERNAL_TOKEN=", SECRET),
    _assignment("config.toml", 'bkash_password = "', SECRET, '"  # from the merchant portal'),
    _assignment("setup.cfg", "nagad_private_key: ", SECRET),
    _assignment("service.ini", "db_passwd = ", SECRET),
    _assignment("Dockerfile", "ENV GITHUB_TOKEN=", SECRET),
    # A literal inside a YAML flow mapping is still a literal.
    _assignment("docker-compose.yml", "  auth: {JWT_REFRESH_SECRET: ", SECRET, ", LOG_LEVEL: INFO}"),
    Sample("committed-env-file", ".env", "LOG_LEVEL=INFO\n", ""),
    Sample("committed-env-file", ".env.production", "LOG_LEVEL=INFO\n", ""),
]


def scan(root: Path) -> dict[str, list[str]]:
    """detect-secrets over every file under root, with the shop's plugins: {relative path: [types]}."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "detect-secrets"),
            "scan",
            "--all-files",
            "--plugin",
            str(PLUGINS),
            ".",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(result.stdout)["results"]
    return {path: [secret["type"] for secret in secrets] for path, secrets in found.items()}


def write(root: Path, cases: list[tuple[str, str]]) -> list[str]:
    paths = []
    for index, (file_name, text) in enumerate(cases):
        path = root / f"{index:02d}" / file_name
        path.parent.mkdir(parents=True)
        path.write_text(text)
        paths.append(path.relative_to(root).as_posix())
    return paths


@pytest.fixture(scope="module")
def sample_findings(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, list[str]], str]:
    root = tmp_path_factory.mktemp("samples")
    paths = write(root, [(sample.file_name, sample.text) for sample in SAMPLES])
    baseline = subprocess.run(
        [
            str(Path(sys.executable).parent / "detect-secrets"),
            "scan",
            "--all-files",
            "--plugin",
            str(PLUGINS),
            ".",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return paths, scan(root), baseline


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[sample.id for sample in SAMPLES])
def test_every_kind_of_leak_is_found_and_never_stored_in_clear(
    index: int, sample_findings: tuple[list[str], dict[str, list[str]], str]
) -> None:
    paths, findings, baseline = sample_findings
    assert findings.get(paths[index]), f"{SAMPLES[index].id} was not found"
    if SAMPLES[index].secret:
        assert SAMPLES[index].secret not in baseline  # detect-secrets keeps hashes only


@pytest.mark.parametrize(
    ("file_name", "text"),
    [
        (".env.example", "INTERNAL_TOKEN=\nJWT_SIGNING_KEY=\nSECRETS_DIR=\n"),
        ("app.env", "INTERNAL_TOKEN=${INTERNAL_TOKEN:?}\n"),
        ("app.env", "JWT_REFRESH_SECRET=${JWT_REFRESH_SECRET}\nJWT_SIGNING_KEY=$JWT_SIGNING_KEY\n"),
        ("compose.yml", "  INTERNAL_TOKEN: ${INTERNAL_TOKEN:?set INTERNAL_TOKEN (32+ random chars)}\n"),
        ("docker-compose.yml", '      - "INTERNAL_TOKEN=${INTERNAL_TOKEN:-}"\n'),
        ("values.yaml", 'stripeApiKey: "{{ .Values.stripe.apiKey }}"\n'),
        ("app.env", "STRIPE_API_KEY=<your stripe api key>\n"),
        ("app.env", "GITHUB_TOKEN=xxxxxxxxxxxxxxxx\n"),
        ("app.env", "INTERNAL_TOKEN_FILE=/run/secrets/internal_token\n"),  # pragma: allowlist secret
        ("app.env", "SECRETS_DIR=/run/secrets\n"),
        ("app.env", "SESSION_TOKEN_TTL_MS=2592000000\n"),
        ("docker-compose.yml", "  MONGODB_URL: mongodb://mongodb:27017/?replicaSet=rs0\n"),
        ("docker-compose.yml", "  REDIS_URL: redis://:${REDIS_PASSWORD:?}@redis:6379/0\n"),
        ("make-secrets.sh", "printf 'redis://:%s@redis:6379/0' \"$(cat redis_password)\"\n"),
        ("db.py", 'URL = f"mongodb://{user}:{password}@{host}/"\n'),
        ("docker-compose.yml", "secrets:\n  internal_token: {file: ./secrets/internal_token}\n"),
        ("docker-compose.yml", "    secrets: [internal_token, jwt_signing_key, jwt_refresh_secret]\n"),
        ("README.md", "Stripe live keys start with sk_live_ and webhook secrets with whsec_.\n"),
    ],
)
def test_references_and_placeholders_pass(file_name: str, text: str, tmp_path: Path) -> None:
    write(tmp_path, [(file_name, text)])
    assert scan(tmp_path) == {}


@pytest.mark.parametrize("file_name", ["test_payments.py", "fixtures.env", "compose.yml"])
def test_the_marker_allows_a_clearly_fake_value_on_its_line(file_name: str, tmp_path: Path) -> None:
    value = "sk_" + "live_" + fake(24)
    write(tmp_path, [(file_name, f"STRIPE_SECRET_KEY={value}  # {ALLOW_MARKER} (a fake)\n")])
    assert scan(tmp_path) == {}


def test_the_marker_covers_only_its_own_line(tmp_path: Path) -> None:
    value = "sk_" + "live_" + fake(24)
    [path] = write(tmp_path, [("test_payments.py", f"# {ALLOW_MARKER}\nKEY = '{value}'\n")])
    assert "Stripe Access Key" in scan(tmp_path)[path]


def audited_baseline(root: Path) -> None:
    """detect-secrets' baseline of root, every finding audited as not a secret (what a reviewer does)."""
    scanned = subprocess.run(
        [
            str(Path(sys.executable).parent / "detect-secrets"),
            "scan",
            "--all-files",
            "--plugin",
            str(PLUGINS),
            ".",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    baseline = json.loads(scanned)
    for findings in baseline["results"].values():
        for finding in findings:
            finding["is_secret"] = False
    (root / ".secrets.baseline").write_text(json.dumps(baseline))


def test_the_check_accepts_audited_findings_wherever_they_move_and_nothing_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devtools.secret_scan import check

    monkeypatch.chdir(tmp_path)
    known = "sk_" + "live_" + fake(24)
    Path("payments.py").write_text(f"KEY = '{known}'\n")
    audited_baseline(tmp_path)
    assert check(["payments.py"]) == []
    # Lines added above a known finding: still known (detect-secrets' own hook would rewrite the baseline).
    Path("payments.py").write_text(f"import os\n\n\nKEY = '{known}'\n")
    assert check(["payments.py"]) == []
    new = "gh" + "p_" + fake(36)
    Path("payments.py").write_text(f"KEY = '{known}'\nTOKEN = '{new}'\n")
    problems = check(["payments.py"])
    assert any(problem.startswith("payments.py:2: GitHub Token") for problem in problems)
    assert all(problem.startswith("payments.py:2: ") for problem in problems)
    assert not any(new in problem for problem in problems)


def test_the_check_refuses_a_baseline_entry_nobody_audited_as_fake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devtools.secret_scan import check

    monkeypatch.chdir(tmp_path)
    Path("payments.py").write_text("KEY = '" + "sk_" + "live_" + fake(24) + "'\n")
    audited_baseline(tmp_path)
    baseline = json.loads(Path(".secrets.baseline").read_text())
    for findings in baseline["results"].values():
        for finding in findings:
            del finding["is_secret"]
    Path(".secrets.baseline").write_text(json.dumps(baseline))
    problems = check(["payments.py"])
    assert "payments.py:1: Stripe Access Key in .secrets.baseline is not audited yet" in problems
