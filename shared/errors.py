"""One error model for every service and the gateway: RFC 9457 problem details.

Errors carry their status: services raise an `AppError` subclass and one set of handlers renders it.
Every `type` is a stable URI reference (`/problems/<slug>`) that clients may switch on.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pymongo.errors import ConnectionFailure, ExecutionTimeout, WTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.db import TransactionTimedOut
from shared.logging import current_request_id, log_event

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "/problems/"

logger = logging.getLogger("shared.errors")


def problem_type(slug: str) -> str:
    return PROBLEM_TYPE_PREFIX + slug


class AppError(Exception):
    """Base of every domain error; subclasses fix status, type and title."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


class BadRequest(AppError):
    status, slug, title = 400, "bad-request", "Bad request"


class Unauthorized(AppError):
    status, slug, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extensions)


class Forbidden(AppError):
    status, slug, title = 403, "forbidden", "Forbidden"


class NotFound(AppError):
    status, slug, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, slug, title = 409, "conflict", "Conflict"


class ValidationFailed(AppError):
    status, slug, title = 422, "validation-error", "Request validation failed"


class CaptchaRequired(AppError):
    """The operation needs a CAPTCHA solution in `X-Captcha-Response`; nothing was done."""

    status, slug, title = 428, "captcha-required", "CAPTCHA required"


class TooManyAttempts(AppError):
    status, slug, title = 429, "too-many-attempts", "Too many attempts"

    def __init__(self, detail: str, *, retry_after_seconds: int, **extensions: Any) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_seconds)}, **extensions)


class ServiceUnavailable(AppError):
    status, slug, title = 503, "service-unavailable", "Service unavailable"


class DatabaseUnavailable(AppError):
    status, slug, title = 503, "database-unavailable", "Database temporarily unavailable"


class UpstreamUnavailable(AppError):
    status, slug, title = 503, "upstream-unavailable", "Upstream service unavailable"


class UpstreamTimeout(AppError):
    status, slug, title = 504, "upstream-timeout", "Upstream service timed out"


# Slugs for errors raised by the framework itself (routing, body parsing) rather than by our code.
_HTTP_STATUS_SLUGS: dict[int, str] = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    413: "payload-too-large",
    415: "unsupported-media-type",
    429: "rate-limited",
}


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """Render one problem+json response; the request id is added so support can find the logs."""
    # Extensions first, so they can never overwrite a member RFC 9457 defines.
    body: dict[str, Any] = {
        **(extensions or {}),
        "type": problem_type(slug),
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if instance:
        body["instance"] = instance
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    return JSONResponse(
        body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_CONTENT_TYPE
    )


def problem_for(error: AppError, instance: str | None) -> JSONResponse:
    """The problem+json answer for `error`, for middleware that answers without the app's handlers."""
    return problem_response(
        error.status,
        error.slug,
        error.title,
        error.detail,
        instance=instance,
        headers=error.headers,
        extensions=error.extensions,
    )


def internal_error_response(instance: str | None = None) -> JSONResponse:
    """The 500 answer: never any internals, only the request id to quote."""
    return problem_response(
        500,
        AppError.slug,
        AppError.title,
        "An unexpected error occurred. Quote the request id when reporting it.",
        instance=instance,
    )


# A 422 lists at most this many field errors: the answer to a hostile body of 100,000 bad items
# stays a few kilobytes instead of growing with the input (`error_count` says how many there were).
MAX_REPORTED_ERRORS = 20
# Each reported location and message is cut to this many parts/characters for the same reason.
_MAX_LOC_PARTS = 8
_MAX_MESSAGE_CHARS = 300


def validation_errors(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Field errors without the submitted input (which may hold passwords or card data), at most
    MAX_REPORTED_ERRORS of them, each of bounded size."""
    return [
        {
            "loc": [_short(part) for part in list(error.get("loc", ()))[:_MAX_LOC_PARTS]],
            "msg": str(error.get("msg", ""))[:_MAX_MESSAGE_CHARS],
            "type": str(error.get("type", ""))[:_MAX_MESSAGE_CHARS],
        }
        for error in errors[:MAX_REPORTED_ERRORS]
    ]


def _short(part: Any) -> Any:
    """A location part as reported: list indexes stay numbers, names (a client's dict keys) are cut."""
    return part if isinstance(part, int) else str(part)[:_MAX_MESSAGE_CHARS]


def validation_problem(errors: Sequence[Any], instance: str | None) -> JSONResponse:
    """The 422 answer for pydantic's errors, bounded whatever the input."""
    extensions: dict[str, Any] = {"errors": validation_errors(errors), "error_count": len(errors)}
    detail = "One or more fields are invalid; see `errors`."
    if len(errors) > MAX_REPORTED_ERRORS:
        detail = f"{len(errors)} fields are invalid; `errors` lists the first {MAX_REPORTED_ERRORS}."
    return problem_response(
        ValidationFailed.status,
        ValidationFailed.slug,
        ValidationFailed.title,
        detail,
        instance=instance,
        extensions=extensions,
    )


async def _handle_app_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(
        exc.status,
        exc.slug,
        exc.title,
        exc.detail,
        instance=request.url.path,
        headers=exc.headers,
        extensions=exc.extensions,
    )


async def _handle_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_problem(exc.errors(), request.url.path)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route of this path takes, found by asking the routes as the router would.
    Starlette's 405 names only the first route that matched the path, so `GET, POST` on two routes
    came out as `Allow: GET`."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


async def _handle_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    slug = _HTTP_STATUS_SLUGS.get(status, f"http-{status}")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
    headers = dict(exc.headers or {})
    if status == 405 and (allowed := allowed_methods(request)):
        headers["Allow"] = allowed
    return problem_response(status, slug, phrase, detail, instance=request.url.path, headers=headers)


# Failures that say "try again shortly", not "this request is wrong": the client gets a 503 with
# Retry-After instead of a 500, and nothing was written (transactions abort, single writes did not ack).
DATABASE_UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    ConnectionFailure,
    ExecutionTimeout,
    WTimeoutError,
    TransactionTimedOut,
)
RETRY_AFTER_SECONDS = "1"


async def _handle_database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log_event(logger, "db.unavailable", logging.WARNING, error=type(exc).__name__, path=request.url.path)
    return problem_response(
        DatabaseUnavailable.status,
        DatabaseUnavailable.slug,
        DatabaseUnavailable.title,
        "The request may not have completed; retry shortly with the same Idempotency-Key.",
        instance=request.url.path,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def install_error_handlers(app: FastAPI) -> None:
    """Make every error leave this app as problem+json. Unhandled exceptions are caught by the
    request-context middleware, which logs them and answers 500 without internals."""
    app.add_exception_handler(AppError, _handle_app_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_exception)
    for error in DATABASE_UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _handle_database_unavailable)
