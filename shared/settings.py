"""Typed settings shared by every process, with the production rules for secrets.

Sources, highest priority first: environment variables, the secrets directory (Docker/Kubernetes
secrets, one file per setting), and `.env` (development only).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import parse_qsl, urlsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.logging import configure_logging

logger = logging.getLogger("shared.settings")

MIN_SECRET_LENGTH = 32
# Values that appear in tutorials, templates and our own examples; none of them is ever a real secret.
KNOWN_WEAK_SECRETS = frozenset(
    {"changeme", "change-me", "changethis", "secret", "password", "admin", "test", "dev", "development"}
)
EMBEDDED_MONGODB_PORT = 27018
EMBEDDED_MONGODB_URL = f"mongodb://127.0.0.1:{EMBEDDED_MONGODB_PORT}/?replicaSet=secantus"
DEFAULT_SECRETS_DIR = Path("/run/secrets")
MIB = 1024 * 1024
# The header that carries INTERNAL_TOKEN from the gateway (and from services calling each other).
INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 - a header name, not a secret
# The most any route may accept; larger uploads belong in object storage, not in the API.
MAX_BODY_LIMIT = 64 * MIB

# Mechanisms that authenticate without a user name in the URL: a client certificate, a cloud identity.
CREDENTIAL_MECHANISMS = frozenset({"MONGODB-X509", "MONGODB-AWS", "MONGODB-OIDC"})

S = TypeVar("S", bound="CommonSettings")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class SettingsError(RuntimeError):
    """The configuration is unusable; the message names every offending setting."""


def secret_weakness(value: str) -> str | None:
    """Why a secret value is unacceptable in production, or None when it is fine."""
    if not value.strip():
        return "is empty"
    if value.strip().lower() in KNOWN_WEAK_SECRETS or "changeme" in value.lower().replace("-", ""):
        return "is a known placeholder"
    if len(value) < MIN_SECRET_LENGTH:
        return f"is shorter than {MIN_SECRET_LENGTH} characters"
    if len(set(value)) < 8:
        return "has too few distinct characters"
    return None


def mongodb_url_has_credentials(url: str) -> bool:
    """Whether a MongoDB URL authenticates: a user before the host, or a mechanism that needs none.

    Read without resolving anything (mongodb+srv:// included), so it can run before any connection.
    """
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo.partition(":")[0]:
        return True
    options = {key.lower(): value for key, value in parse_qsl(parts.query)}
    return options.get("authmechanism", "").upper() in CREDENTIAL_MECHANISMS


class CommonSettings(BaseSettings):
    """Settings every service and the gateway read. Subclasses add their own."""

    # Empty variables count as unset, so a copied .env.example with blank values keeps the defaults.
    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, validate_default=True, env_ignore_empty=True
    )

    service_name: ClassVar[str] = "service"
    # The gateway keeps no data; every other process refuses production without a real MONGODB_URL.
    requires_mongodb: ClassVar[bool] = True
    # Secrets that may be absent even in production (checked for strength when present, never generated).
    optional_secrets: ClassVar[frozenset[str]] = frozenset()

    @staticmethod
    def generate_secret(name: str) -> str:
        """A development value for a missing secret; subclasses override for secrets with a format."""
        return secrets.token_urlsafe(32)

    env: Environment = Environment.DEVELOPMENT
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    mongodb_url: str = EMBEDDED_MONGODB_URL
    mongodb_db: str = "shop"
    # How long start-up waits for MongoDB before giving up (an orchestrator then restarts the process).
    mongodb_startup_timeout_seconds: float = 30.0
    # Upper bound of one multi-document transaction, retries included (pymongo.timeout).
    transaction_timeout_seconds: float = 10.0
    health_check_timeout_seconds: float = 2.0

    redis_url: str | None = None
    # Tracing (docs/observability.md): spans are sent to this OTLP/HTTP collector (its base URL,
    # `/v1/traces` is appended); unset, tracing is off.
    otel_exporter_otlp_endpoint: str | None = None
    otel_traces_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    # Local state outside the database: generated development secrets live in DATA_DIR/dev-secrets.
    data_dir: Path = Path("var")

    # Access-token verification, shared by every service (tokens are issued by the auth service).
    jwt_issuer: str = "shop-auth"
    jwt_audience: str = "shop-api"
    auth_jwks_url: str = "http://127.0.0.1:8001/api/v1/auth/.well-known/jwks.json"
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    # Tolerated clock difference between the auth service and a verifier.
    jwt_leeway_seconds: float = Field(default=10.0, ge=0, le=60)

    # Shared by the gateway and the services. Outside development a service answers only requests that
    # carry it (its probes and metrics excepted), and trusts forwarded client addresses only from those.
    internal_token: SecretStr | None = None

    # Largest request body (413 beyond it). The gateway enforces it per path first; every service
    # enforces it again, for a caller that reaches a service port without passing the gateway.
    max_body_bytes: int = Field(default=MIB, ge=1024, le=MAX_BODY_LIMIT)
    # The whole body must arrive within this time of the request head (cuts trickled uploads).
    request_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment first, then secret files, then `.env` (read in development only)."""
        return init_settings, env_settings, file_secret_settings, dotenv_settings

    @classmethod
    def secret_field_names(cls) -> list[str]:
        """Every field typed as a secret: each is required and checked for strength in production."""
        return [
            name
            for name, field in cls.model_fields.items()
            if field.annotation is SecretStr or field.annotation == SecretStr | None
        ]

    @model_validator(mode="after")
    def _enforce_environment_rules(self) -> Self:
        """Name every unusable secret at once, so one failed start shows the whole list."""
        problems = self._malformed_secrets()
        if self.env is Environment.PRODUCTION:
            problems = self._production_problems() + problems
            if problems:
                raise ValueError("refusing to start in production: " + "; ".join(problems))
        if problems:
            raise ValueError("; ".join(problems))
        if self.env is not Environment.PRODUCTION:
            self._generate_missing_secrets()
        return self

    @classmethod
    def secret_format_problem(cls, name: str, value: str) -> str | None:
        """Why a present secret has the wrong format, or None; subclasses check secrets with a format."""
        return None

    def _malformed_secrets(self) -> list[str]:
        problems = []
        for name in self.secret_field_names():
            value: SecretStr | None = getattr(self, name)
            reason = self.secret_format_problem(name, value.get_secret_value()) if value is not None else None
            if reason:
                problems.append(f"{name.upper()} {reason}")
        return problems

    def _production_problems(self) -> list[str]:
        problems: list[str] = []
        if self.requires_mongodb and "mongodb_url" not in self.model_fields_set:
            problems.append("MONGODB_URL is required (the embedded server is never a production database)")
        for name in self.secret_field_names():
            value: SecretStr | None = getattr(self, name)
            if value is None and name in self.optional_secrets:
                continue
            reason = "is missing" if value is None else secret_weakness(value.get_secret_value())
            if reason:
                problems.append(f"{name.upper()} {reason}")
        return problems

    def startup_problems(self) -> list[str]:
        """What a production process refuses to start with beyond its settings' own validation.

        A database user per service is how the database keeps each service to its own collections
        (docs/deployment.md), so production refuses a MONGODB_URL that authenticates as nobody. It is
        checked where a process starts (settings_or_exit) and by `shop launch-check`.
        """
        if (
            self.is_production
            and self.requires_mongodb
            and "mongodb_url" in self.model_fields_set
            and not mongodb_url_has_credentials(self.mongodb_url)
        ):
            return [
                "MONGODB_URL has no credentials (put this service's own database user and password "
                "before the host, or use authMechanism=MONGODB-X509, MONGODB-AWS or MONGODB-OIDC; "
                "docs/deployment.md)"
            ]
        return []

    def _generate_missing_secrets(self) -> None:
        for name in self.secret_field_names():
            if getattr(self, name) is None and name not in self.optional_secrets:
                path = self.data_dir / "dev-secrets" / name
                value = persisted_dev_secret(path, functools.partial(self.generate_secret, name))
                object.__setattr__(self, name, SecretStr(value))
                logger.warning(
                    "settings.secret_generated",
                    extra={"fields": {"setting": name.upper(), "env": self.env.value}},
                )

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def internal_headers(self) -> dict[str, str]:
        """What a process sends when it calls a service itself (key sets, documents): the token."""
        token = self.internal_token.get_secret_value() if self.internal_token else ""
        return {INTERNAL_TOKEN_HEADER: token} if token else {}

    @property
    def gateway_only(self) -> bool:
        """Whether services refuse callers without the internal token: everywhere but development,
        where a developer may call a service port by hand."""
        return self.env is not Environment.DEVELOPMENT


def persisted_dev_secret(path: Path, generate: Callable[[], str]) -> str:
    """Read a development secret from `path`, or generate and store it there (mode 0600).

    Kept across restarts so sessions survive them; the first process to write wins, so processes
    starting together agree on one value.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        candidate.write_text(generate())
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)  # atomic, and fails if another process got there first
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text()


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from the environment, `.env` (development) and the secrets directory (production).

    Raises SettingsError with every problem named, instead of pydantic's raw report.
    """
    env = os.environ.get("ENV", Environment.DEVELOPMENT.value).strip().lower()
    env_file = ".env" if env == Environment.DEVELOPMENT.value else None
    try:
        return cls(_env_file=env_file, _secrets_dir=_secrets_dir(env), **overrides)
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors(include_input=False, include_url=False)]
        raise SettingsError(f"invalid {cls.service_name} settings: " + "; ".join(problems)) from None


def _secrets_dir(env: str) -> Path | None:
    configured = os.environ.get("SECRETS_DIR")
    if configured:
        path = Path(configured)
        if not path.is_dir():
            raise SettingsError(f"SECRETS_DIR {configured!r} is not a directory")
        return path
    if env == Environment.PRODUCTION.value and DEFAULT_SECRETS_DIR.is_dir():
        return DEFAULT_SECRETS_DIR
    return None


def _describe(error: Any) -> str:
    location = ".".join(str(part).upper() for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def settings_or_exit(cls: type[S]) -> S:
    """Load settings for a process entry point; a bad configuration ends the process with one clear line."""
    configure_logging(cls.service_name, os.environ.get("LOG_LEVEL", "INFO").upper())
    try:
        settings = load_settings(cls)
        problems = settings.startup_problems()
        if problems:
            refusal = "refusing to start in production: " + "; ".join(problems)
            raise SettingsError(f"invalid {cls.service_name} settings: {refusal}")
        return settings
    except SettingsError as exc:
        print(
            json.dumps(
                {
                    "level": "critical",
                    "service": cls.service_name,
                    "event": "settings.invalid",
                    "detail": str(exc),
                }
            ),
            file=sys.stderr,
        )
        raise SystemExit(2) from None
