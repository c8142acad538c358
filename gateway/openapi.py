"""The public API's one OpenAPI document, merged from both services, and its reference page.

Each service publishes its own OpenAPI 3 document (flask-smorest, `/openapi.json` on the
service). Integrators see one API at the gateway, so this module merges the public part of
both documents:

* only paths under `/api/` are kept: `/internal/...`, `/healthz`, `/readyz`, `/metrics` and
  the services' own `/openapi.json` are not public;
* components (schemas, responses, parameters, security schemes...) are shared when both
  services define the same name identically, and prefixed with the service's name
  (`Showcase...`, `Marketplace...`) when the definitions differ; `$ref`s follow;
* components no public operation reaches are dropped (e.g. the reservation schemas of the
  internal API, the `internalToken` scheme).

Building the documents needs no database: the app factories are called with a dummy
configuration. The gateway serves the result at `/api/v1/openapi.json` and a Swagger UI page
at `/api/docs`, whose assets come from the pip package `swagger-ui-bundle` (copied into a
generated directory at gateway start, never fetched from a CDN).

CLI:
    python -m gateway.openapi [--out FILE]       # merged document (default: stdout)
    python -m gateway.openapi --check            # the committed generated file is fresh?
    python -m gateway.openapi --site DIR [--document FILE]
        # the reference page (index.html, docs.js, Swagger UI assets, openapi.json) in DIR;
        # with --document the page uses that file instead of building the document.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import shutil
import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATED_DOCUMENT = REPO_ROOT / "gateway" / "generated" / "openapi.json"

DOCUMENT_PATH = "/api/v1/openapi.json"  # where the gateway serves the merged document
DOCS_PATH = "/api/docs"  # the API reference page (and its assets below /api/docs/)
PUBLIC_PREFIX = "/api/"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# service name (gateway.routes upstream) -> (package, component prefix on collisions)
SERVICES = {
    "storefront": ("storefront_service", "Showcase"),
    "transaction": ("transaction_service", "Marketplace"),
}

INFO = {
    "title": "Etalase public API",
    "version": "1.0.0",
    "description": (
        "The one REST API of Etalase, served by the gateway under `/api/v1/`. All bodies "
        "are JSON; money is integer rupiah (`{\"amount\": 150000, \"currency\": \"IDR\"}`). "
        "Errors are `application/problem+json` (RFC 9457: `type`, `title`, `status`, "
        "`detail`, `request_id`, and `errors` for validation). Lists use cursor pagination "
        "(`?limit=1..100&cursor=`). Log in with `POST /api/v1/auth/login` and send the token "
        "as `Authorization: Bearer <token>`. Every response carries `X-Request-ID`."
    ),
}

# Swagger UI files copied from the `swagger-ui-bundle` package into the page's directory.
SWAGGER_ASSETS = (
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "favicon-32x32.png",
    "favicon-16x16.png",
)

INDEX_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Etalase API reference</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="{docs}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{docs}/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui" data-spec-url="{document}"></div>
  <script src="{docs}/swagger-ui-bundle.js"></script>
  <script src="{docs}/swagger-ui-standalone-preset.js"></script>
  <script src="{docs}/docs.js"></script>
</body>
</html>
"""

# Not inline in index.html, so a Content-Security-Policy with script-src 'self' allows it.
DOCS_JS = """window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    layout: "BaseLayout"
  });
});
"""


# --------------------------------------------------------------------------- documents


def service_document(service: str) -> dict:
    """The full OpenAPI document of one service, built without a database."""
    package, _ = SERVICES[service]
    module = __import__(package)
    # The factory configures the process's logging (JSON on stderr); a caller such as
    # devstack or pytest keeps its own.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        app = module.create_app(
            {
                # Never connected to: the pool connects lazily and the spec needs no data.
                "database_url": "postgresql://openapi@127.0.0.1:9/openapi",
                "jwks_file": "/nonexistent/jwks.json",
                "log_level": "WARNING",
            }
        )
        with app.test_client() as client:
            response = client.get("/openapi.json")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    if response.status_code != 200:
        raise RuntimeError(f"{service} /openapi.json answered {response.status_code}")
    return response.get_json()


def is_public(path: str) -> bool:
    return path.startswith(PUBLIC_PREFIX)


def operations(document: dict):
    """(path, METHOD, operation) for every operation of a document."""
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method.upper(), operation


def _refs(node: Any):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(value, renames) for value in node]
    return node


def _public_part(document: dict) -> dict:
    """The document with only public paths and the components they reach."""
    doc = copy.deepcopy(document)
    doc["paths"] = {p: item for p, item in doc.get("paths", {}).items() if is_public(p)}
    components = doc.get("components", {})
    reached: set[tuple[str, str]] = set()
    security: set[str] = set()
    todo = list(_refs(doc["paths"]))
    for _, _, operation in operations(doc):
        for requirement in operation.get("security", doc.get("security", [])) or []:
            security.update(requirement)
    while todo:
        ref = todo.pop()
        parts = ref.split("/")
        if len(parts) != 4 or parts[:2] != ["#", "components"]:
            continue
        key = (parts[2], parts[3])
        if key in reached or parts[3] not in components.get(parts[2], {}):
            continue
        reached.add(key)
        todo.extend(_refs(components[parts[2]][parts[3]]))
    kept: dict[str, dict] = {}
    for kind, entries in components.items():
        for name, value in entries.items():
            if (kind, name) in reached or (kind == "securitySchemes" and name in security):
                kept.setdefault(kind, {})[name] = value
    doc["components"] = kept
    used_tags = {t for _, _, op in operations(doc) for t in op.get("tags", [])}
    doc["tags"] = [t for t in doc.get("tags", []) if t["name"] in used_tags]
    return doc


def merge(documents: dict[str, dict]) -> dict:
    """Merge service documents (`{service: document}`) into the public document."""
    publics = {service: _public_part(doc) for service, doc in documents.items()}

    # Which component names collide with a different definition?
    definitions: dict[tuple[str, str], list[tuple[str, Any]]] = {}
    for service, doc in publics.items():
        for kind, entries in doc["components"].items():
            for name, value in entries.items():
                definitions.setdefault((kind, name), []).append((service, value))
    conflicting = {
        key
        for key, defs in definitions.items()
        if any(value != defs[0][1] for _, value in defs[1:])
    }

    merged: dict[str, Any] = {
        "openapi": next(iter(publics.values()))["openapi"],
        "info": dict(INFO),
        "servers": [{"url": "/", "description": "This gateway"}],
        "tags": [],
        "paths": {},
        "components": {},
    }
    tag_names: set[str] = set()
    for service, doc in publics.items():
        prefix = SERVICES[service][1]
        renames = {
            f"#/components/{kind}/{name}": f"#/components/{kind}/{prefix}{name}"
            for (kind, name) in conflicting
            if name in doc["components"].get(kind, {})
        }
        doc = _rewrite_refs(doc, renames)
        for kind, entries in doc["components"].items():
            target = merged["components"].setdefault(kind, {})
            for name, value in entries.items():
                if (kind, name) in conflicting:
                    if kind == "securitySchemes":  # requirements name schemes, not $refs
                        raise ValueError(f"security scheme {name!r} differs between services")
                    name = prefix + name
                target.setdefault(name, value)
        for path, item in doc["paths"].items():
            if path in merged["paths"]:
                raise ValueError(f"{path} is documented by more than one service")
            merged["paths"][path] = item
        for tag in doc["tags"]:
            if tag["name"] in tag_names:
                raise ValueError(f"tag {tag['name']!r} is used by more than one service")
            tag_names.add(tag["name"])
            merged["tags"].append({**tag, "x-service": service})
    merged["components"] = {
        kind: dict(sorted(entries.items())) for kind, entries in merged["components"].items()
    }
    return merged


def build_document() -> dict:
    return merge({service: service_document(service) for service in SERVICES})


def render(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- the page


def swagger_ui_dir() -> Path:
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError as exc:  # pragma: no cover - requirements.txt installs it
        raise RuntimeError(
            "the API reference page needs the `swagger-ui-bundle` package (make venv)"
        ) from exc
    return Path(str(swagger_ui_path))


def write_site(out_dir: str | Path, document: dict | str) -> Path:
    """Write the reference page, its assets and the merged document into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    source = swagger_ui_dir()
    for name in SWAGGER_ASSETS:
        shutil.copyfile(source / name, out / name)
    (out / "index.html").write_text(INDEX_HTML.format(docs=DOCS_PATH, document=DOCUMENT_PATH))
    (out / "docs.js").write_text(DOCS_JS)
    text = document if isinstance(document, str) else render(document)
    (out / "openapi.json").write_text(text)
    return out


# --------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.openapi", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", help="write the merged document here (default: stdout)")
    parser.add_argument(
        "--check", action="store_true", help=f"fail if {GENERATED_DOCUMENT.name} is stale"
    )
    parser.add_argument("--site", help="write the reference page (and document) into DIR")
    parser.add_argument("--document", help="with --site: use this document file as is")
    args = parser.parse_args(argv)

    if args.site and args.document:
        write_site(args.site, Path(args.document).read_text())
        print(f"wrote {args.site}", file=sys.stderr)
        return 0
    text = render(build_document())
    if args.check:
        committed = GENERATED_DOCUMENT.read_text() if GENERATED_DOCUMENT.exists() else ""
        if committed != text:
            print(
                f"{GENERATED_DOCUMENT} is stale: run `python -m gateway.openapi "
                f"--out {GENERATED_DOCUMENT.relative_to(REPO_ROOT)}`",
                file=sys.stderr,
            )
            return 1
        return 0
    if args.site:
        write_site(args.site, text)
        print(f"wrote {args.site}", file=sys.stderr)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}", file=sys.stderr)
    elif not args.site:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
