"""`GET /openapi.json`: one OpenAPI 3.1 document for every public path; `GET /docs` renders it.

Each service describes its own routes (FastAPI's `/openapi.json` on its port). The gateway fetches
those documents lazily and caches them for `OPENAPI_CACHE_SECONDS` (a service whose document could
not be fetched is asked again on the next request; a stale one is kept while a refresh fails), keeps
the paths it routes to each service, adds its own public paths, and describes what a client really
meets through the gateway: problem+json errors, rate-limit headers, the bearer scheme.

Component names that two services use for different things are prefixed with the service name
(`CatalogMoney`, `OrderMoney`) and every `$ref` is rewritten to match; identical ones are shared.
"""

from gateway.openapi.merge import merge_documents
from gateway.openapi.router import DOCS_CSP, DOCS_PATH, OpenApiDocuments, openapi_router

__all__ = ["DOCS_CSP", "DOCS_PATH", "OpenApiDocuments", "merge_documents", "openapi_router"]
