"""Merging the services' documents (and the gateway's own) into one.

Only the paths the gateway routes to each service are kept. Component names that two services use
for different things are prefixed with the service name (`CatalogMoney`, `OrderMoney`) and every
`$ref` is rewritten to match; identical ones are shared. Every bearer scheme becomes `HTTPBearer`.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from gateway.openapi.additions import (
    API_PREFIX,
    API_TITLE,
    BEARER,
    BEARER_SCHEME,
    DESCRIPTION,
    GATEWAY_PUBLIC_PATHS,
    GATEWAY_SOURCE,
    HTTP_METHODS,
    OPENAPI_VERSION,
    TAGS,
    Document,
    add_gateway_components,
    document_operation,
    gateway_components,
    refs_in,
)
from gateway.openapi.contract import ContractOptions, drop_null_defaults, name_alternatives, rename_operation
from gateway.routing import owning_service


def merge_documents(
    sources: Mapping[str, Document], *, version: str, options: ContractOptions | None = None
) -> Document:
    """One document from the gateway's own (`sources["gateway"]`, optional) and the services'."""
    options = options or ContractOptions()
    sources = {name: copy.deepcopy(doc) for name, doc in sources.items()}
    for name, doc in sources.items():
        doc["paths"] = public_paths(name, doc)
        _push_down_security(doc)
    schemes, scheme_renames = _merge_security_schemes(sources)
    renames = plan_renames({name: doc.get("components", {}) for name, doc in sources.items()}, options)
    components: dict[str, dict[str, Any]] = defaultdict(dict)
    paths: dict[str, Any] = {}
    for name, doc in sources.items():
        doc = rewrite_refs(doc, renames[name])
        _rename_security_requirements(doc["paths"], scheme_renames[name])
        for section, entries in doc.get("components", {}).items():
            if section != "securitySchemes":
                components[section].update(entries)
        paths.update(doc["paths"])
    for path, item in paths.items():
        for method, operation in operations(item):
            document_operation(path, method, operation, options)
    _shorten_operation_ids(paths)
    for item in paths.values():
        for _, operation in operations(item):
            rename_operation(operation)
    add_gateway_components(components, schemes, options)
    drop_null_defaults(components["schemas"])
    name_alternatives(components["schemas"])
    merged: Document = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": API_TITLE, "version": version, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "tags": _tags(paths),
        "paths": paths,
        "components": dict(components),
    }
    prune_components(merged)
    return merged


def public_paths(source: str, doc: Document) -> dict[str, Any]:
    """The paths clients reach through the gateway: those it routes to `source`; for the gateway
    itself, its public paths and `/api/v1` paths that no service owns (`/api/v1/captcha`)."""
    kept: dict[str, Any] = {}
    for path, item in doc.get("paths", {}).items():
        if source == GATEWAY_SOURCE:
            public = path in GATEWAY_PUBLIC_PATHS or (
                path.startswith(API_PREFIX) and owning_service(path) is None
            )
        else:
            public = path.startswith(API_PREFIX) and owning_service(path) == source
        if public:
            kept[path] = item
    return kept


def operations(item: Mapping[str, Any]) -> Iterator[tuple[str, Document]]:
    for method in HTTP_METHODS:
        if method in item:
            yield method, item[method]


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def plan_renames(
    components_by_source: Mapping[str, Mapping[str, Any]], options: ContractOptions | None = None
) -> dict[str, dict[str, str]]:
    """For each source, `{old $ref: new $ref}` for its components whose name another source (or the
    gateway's own additions) uses for something different, or which refer to such a component."""
    variants: dict[str, dict[str, Any]] = defaultdict(dict)  # $ref -> source -> object
    for source, components in components_by_source.items():
        for section, entries in components.items():
            if section != "securitySchemes":
                for name, value in entries.items():
                    variants[f"#/components/{section}/{name}"][source] = value
    reserved = gateway_components(options)
    renamed = set()
    for ref, objects in variants.items():
        forms = {_canonical(value) for value in objects.values()}
        if ref in reserved:
            forms.add(_canonical(reserved[ref]))
        if len(forms) > 1:
            renamed.add(ref)
    # A shared component that refers to a renamed one must follow it: each source's copy now differs.
    changed = True
    while changed:
        changed = False
        for ref, objects in variants.items():
            if (
                ref not in renamed
                and len(objects) > 1
                and any(dep in renamed for value in objects.values() for dep in refs_in(value))
            ):
                renamed.add(ref)
                changed = True
    taken = set(variants) | set(reserved)
    plan: dict[str, dict[str, str]] = {source: {} for source in components_by_source}
    for ref in sorted(renamed):
        base, _, name = ref.rpartition("/")
        for source in variants[ref]:
            new = f"{base}/{_pascal(source)}{name}"
            while new in taken:
                new += "_"
            taken.add(new)
            plan[source][ref] = new
    return plan


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def rewrite_refs(doc: Document, renames: Mapping[str, str]) -> Document:
    """`doc` with every `$ref` in `renames` rewritten, and its components renamed to match."""
    if not renames:
        return doc

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: renames.get(item, item) if key == "$ref" and isinstance(item, str) else rewrite(item)
                for key, item in value.items()
            }
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        return value

    result: Document = rewrite(doc)
    for section, entries in result.get("components", {}).items():
        prefix = f"#/components/{section}/"
        result["components"][section] = {
            renames.get(prefix + name, prefix + name).removeprefix(prefix): value
            for name, value in entries.items()
        }
    return result


def _push_down_security(doc: Document) -> None:
    """A document-wide `security` applies to each operation that does not set its own."""
    default = doc.pop("security", None)
    if default is None:
        return
    for item in doc["paths"].values():
        for _, operation in operations(item):
            operation.setdefault("security", default)


def _merge_security_schemes(
    sources: Mapping[str, Document],
) -> tuple[dict[str, Document], dict[str, dict[str, str]]]:
    """Every bearer scheme becomes the one `HTTPBearer`; other schemes keep their name unless two
    sources use it differently. Returns the schemes, and each source's renames."""
    merged: dict[str, Document] = {BEARER: BEARER_SCHEME}
    renames: dict[str, dict[str, str]] = {}
    for source, doc in sources.items():
        renames[source] = {}
        for name, scheme in doc.get("components", {}).get("securitySchemes", {}).items():
            if scheme.get("type") == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                renames[source][name] = BEARER
                continue
            new = name if merged.get(name, scheme) == scheme else f"{_pascal(source)}{name}"
            merged[new] = scheme
            renames[source][name] = new
    return merged, renames


def _rename_security_requirements(paths: Mapping[str, Any], renames: Mapping[str, str]) -> None:
    for item in paths.values():
        for _, operation in operations(item):
            if "security" in operation:
                operation["security"] = [
                    {renames.get(name, name): scopes for name, scopes in requirement.items()}
                    for requirement in operation["security"]
                ]


def _shorten_operation_ids(paths: Mapping[str, Any]) -> None:
    """FastAPI's `create_order_api_v1_orders_post` becomes `create_order` (the handler's name) when
    that is unique across the document: generated clients get readable method names."""
    every = [(path, method, op) for path, item in paths.items() for method, op in operations(item)]
    short = {id(op): _handler_name(op.get("operationId", ""), path, method) for path, method, op in every}
    counts = Counter(short.values())
    for _, _, operation in every:
        name = short[id(operation)]
        if name and counts[name] == 1:
            operation["operationId"] = name


def _handler_name(operation_id: str, path: str, method: str) -> str:
    suffix = re.sub(r"\W", "_", path) + "_" + method
    if operation_id.endswith(suffix) and len(operation_id) > len(suffix):
        return operation_id.removesuffix(suffix)
    return ""


def _tags(paths: Mapping[str, Any]) -> list[dict[str, str]]:
    """The known tags (in the order above) that operations use, then any others."""
    used = [tag for item in paths.values() for _, op in operations(item) for tag in op.get("tags", [])]
    known = [tag for tag in TAGS if tag["name"] in used]
    names = {tag["name"] for tag in known}
    return known + [{"name": tag} for tag in dict.fromkeys(used) if tag not in names]


def prune_components(doc: Document) -> None:
    """Drop components nothing refers to (FastAPI's stock `HTTPValidationError`, for one)."""
    components: dict[str, dict[str, Any]] = doc["components"]
    reachable: set[str] = set()
    pending = list(refs_in(doc["paths"]))
    while pending:
        ref = pending.pop()
        if ref in reachable:
            continue
        reachable.add(ref)
        section, _, name = ref.removeprefix("#/components/").partition("/")
        pending += refs_in(components.get(section, {}).get(name))
    for section, entries in components.items():
        if section != "securitySchemes":
            components[section] = {
                name: value
                for name, value in entries.items()
                if f"#/components/{section}/{name}" in reachable
            }
