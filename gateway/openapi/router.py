"""`GET /openapi.json`, `GET /docs` and its assets: the merged document, fetched lazily and cached."""

from __future__ import annotations

import asyncio
import base64
import copy
import hashlib
import importlib.util
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from gateway.captcha.config import CaptchaProvider
from gateway.openapi.additions import API_TITLE, GATEWAY_SOURCE, Document, describe_health
from gateway.openapi.contract import ContractOptions
from gateway.openapi.merge import merge_documents
from gateway.settings import GatewaySettings
from shared.errors import NotFound
from shared.logging import log_event

logger = logging.getLogger("gateway.openapi")


@dataclass(frozen=True)
class MergedDocument:
    body: bytes
    etag: str
    missing: tuple[str, ...]  # services whose document could not be fetched yet


class OpenApiDocuments:
    """The services' documents, fetched lazily and kept; the merged document built from them."""

    def __init__(
        self,
        upstreams: Mapping[str, str],
        *,
        cache_seconds: float,
        timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
        options: ContractOptions | None = None,
    ) -> None:
        self._options = options or ContractOptions()
        self._upstreams = dict(upstreams)
        self._headers = dict(headers or {})  # the internal token: services answer only the gateway
        self._cache_seconds = cache_seconds
        self._timeout_seconds = timeout_seconds
        self._clock = clock
        self._docs: dict[str, Document] = {}
        self._fetched_at: dict[str, float] = {}
        self._merged: MergedDocument | None = None
        self._lock = asyncio.Lock()

    async def merged(self, client: httpx.AsyncClient, gateway_doc: Document, version: str) -> MergedDocument:
        async with self._lock:
            due = [name for name in self._upstreams if self._due(name)]
            changed = await asyncio.gather(*(self._fetch(client, name) for name in due))
            if self._merged is None or any(changed):
                self._merged = self._build(gateway_doc, version)
            return self._merged

    def _due(self, name: str) -> bool:
        fetched_at = self._fetched_at.get(name)
        return fetched_at is None or self._clock() - fetched_at >= self._cache_seconds

    async def _fetch(self, client: httpx.AsyncClient, name: str) -> bool:
        """Fetch one service's document; True when it differs from the one kept."""
        url = f"{self._upstreams[name]}/openapi.json"
        try:
            response = await client.get(url, timeout=self._timeout_seconds, headers=self._headers)
            response.raise_for_status()
            doc = response.json()
            if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
                raise ValueError("not an OpenAPI document")
        except (httpx.HTTPError, ValueError) as exc:
            # Kept: the stale document, if any. Not marked fetched: the next request asks again.
            log_event(
                logger,
                "gateway.openapi_fetch_failed",
                logging.WARNING,
                upstream=name,
                error=type(exc).__name__,
            )
            return False
        self._fetched_at[name] = self._clock()
        changed = self._docs.get(name) != doc
        self._docs[name] = doc
        return changed

    def _build(self, gateway_doc: Document, version: str) -> MergedDocument:
        gateway = copy.deepcopy(gateway_doc)
        describe_health(gateway)
        sources = {
            GATEWAY_SOURCE: gateway,
            **{name: self._docs[name] for name in self._upstreams if name in self._docs},
        }
        doc = merge_documents(sources, version=version, options=self._options)
        missing = tuple(name for name in self._upstreams if name not in self._docs)
        if missing:
            doc["info"]["x-unavailable-services"] = list(missing)
        body = json.dumps(doc, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return MergedDocument(body, etag, missing)


DOCS_PATH = "/docs"
ASSETS_PATH = DOCS_PATH + "/assets"
# Swagger UI 5 (OpenAPI 3.1), as shipped in the fastapi-offline package: browsers need no CDN.
ASSET_FILES = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"}
CDN = "https://cdn.jsdelivr.net"


def swagger_assets_dir() -> Path | None:
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or spec.origin is None:
        return None
    static = Path(spec.origin).parent / "static"
    return static if all((static / name).is_file() for name in ASSET_FILES) else None


def docs_page(assets: Path | None) -> tuple[str, str]:
    """The Swagger UI page and the Content-Security-Policy that lets exactly it run."""
    if assets is not None:
        base, sources, favicon = ASSETS_PATH, "'self'", f"{ASSETS_PATH}/favicon.png"
    else:  # Swagger UI from a CDN, which browsers must then be able to reach
        base, sources, favicon = f"{CDN}/npm/swagger-ui-dist@5", f"'self' {CDN}", "data:,"
    html = bytes(
        get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{API_TITLE} - docs",
            swagger_js_url=f"{base}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/swagger-ui.css",
            swagger_favicon_url=favicon,
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": False},
        ).body
    ).decode()
    # The page's one inline script is allowed by its hash, so no other inline script can run.
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    )
    csp = (
        f"default-src 'none'; script-src {sources} {hashes}; style-src {sources} 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'none'"
    )
    return html, csp


_ASSETS = swagger_assets_dir()
DOCS_HTML, DOCS_CSP = docs_page(_ASSETS)


def openapi_router(settings: GatewaySettings) -> APIRouter:
    """`GET /openapi.json` (the merged document), `GET /docs` (Swagger UI) and its assets."""
    documents = OpenApiDocuments(
        settings.upstream_urls(),
        cache_seconds=settings.openapi_cache_seconds,
        timeout_seconds=settings.health_check_timeout_seconds,
        headers=settings.internal_headers(),
        options=ContractOptions(
            refresh_cookie_name=settings.refresh_cookie_name,
            captcha_enabled=settings.effective_captcha_provider is not CaptchaProvider.OFF,
        ),
    )
    router = APIRouter(include_in_schema=False)

    @router.get("/openapi.json")
    async def openapi(request: Request) -> Response:
        app = request.app
        merged = await documents.merged(app.state.http, app.openapi(), app.version)
        # Revalidated on every use; never stored while a service's part is missing.
        headers = {"ETag": merged.etag, "Cache-Control": "no-store" if merged.missing else "no-cache"}
        if merged.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(merged.body, media_type="application/json", headers=headers)

    @router.get(DOCS_PATH)
    async def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_HTML)

    @router.get(ASSETS_PATH + "/{name}")
    async def asset(name: str) -> Response:
        if _ASSETS is None or name not in ASSET_FILES:
            raise NotFound()
        return FileResponse(_ASSETS / name, headers={"Cache-Control": "public, max-age=86400"})

    return router
