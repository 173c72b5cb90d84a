#!/usr/bin/env python3
"""Checks examples/gateway/openapi.yaml against the running gateway.

1. The routes the binary serves (`heroshhi routes`) are exactly the operations the spec documents.
2. A demo gateway is started on a free loopback port; every documented operation is called with
   example inputs, with a valid key and without one: each answer's status must be documented for
   the operation, every error body must have the documented Error shape, and each 2xx JSON body
   must carry the required fields of its documented schema.

Usage: HEROSHHI_BIN=/path/to/heroshhi python3 tests/gateway/contract.py  (ctest sets it)
"""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = yaml.safe_load(open(os.path.join(ROOT, "examples", "gateway", "openapi.yaml")))
BIN = os.path.abspath(os.environ["HEROSHHI_BIN"])
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


def resolve(node):
    while isinstance(node, dict) and "$ref" in node:
        path = node["$ref"].lstrip("#/").split("/")
        node = SPEC
        for p in path:
            node = node[p]
    return node


def check_schema(value, schema, where):
    """A small subset of JSON Schema: type, required, properties, items, enum, nullable, oneOf, allOf."""
    schema = resolve(schema)
    if value is None and schema.get("nullable"):
        return
    if "allOf" in schema:
        for s in schema["allOf"]:
            check_schema(value, s, where)
        return
    if "oneOf" in schema:
        return  # request bodies only
    t = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}
    if t and not isinstance(value, types[t]):
        fail(f"{where}: expected {t}, got {value!r}"[:300])
        return
    if "enum" in schema and value not in schema["enum"]:
        fail(f"{where}: {value!r} not in {schema['enum']}")
    if t == "object":
        for r in schema.get("required", []):
            if r not in value:
                fail(f"{where}: missing required field '{r}'")
        for k, s in schema.get("properties", {}).items():
            if k in value:
                check_schema(value[k], s, f"{where}.{k}")
    if t == "array":
        for i, item in enumerate(value):
            check_schema(item, schema.get("items", {}), f"{where}[{i}]")


# --- 1. routes --------------------------------------------------------------------------------------
served = set()
for line in subprocess.run([BIN, "routes"], check=True, capture_output=True, text=True).stdout.splitlines():
    method, pattern = line.split(" ", 1)
    served.add((method, pattern))
documented = {(m.upper(), p) for p, ops in SPEC["paths"].items() for m in ops if m in ("get", "post", "put", "delete", "patch")}
for op in sorted(served - documented):
    fail(f"served but not documented: {op}")
for op in sorted(documented - served):
    fail(f"documented but not served: {op}")
print(f"routes: {len(served)} served, {len(documented)} documented")

# --- 2. calls ---------------------------------------------------------------------------------------
work = tempfile.mkdtemp()
proc = subprocess.Popen([BIN, "serve", "--demo", "--port", "0", "--no-walkthrough", "--demo-db", os.path.join(work, "c.db")],
                        cwd=work, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
port = key = None
deadline = time.time() + 30
while time.time() < deadline and (port is None or key is None):
    line = proc.stdout.readline()
    if not line:
        break
    if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
        port = int(m.group(1))
    if m := re.search(r"API key \(owner\): (hsk_\S+)", line):
        key = m.group(1)
if port is None or key is None:
    proc.kill()
    print("FAIL the demo gateway did not start:", proc.stderr.read())
    sys.exit(1)

PARAMS = {"phone": "+14155550123", "id": "c_unknown", "integration": "int_unknown"}
BODIES = {
    ("POST", "/v1/messages"): {"to": "+14155550123", "template": {"name": "receipt", "language": "en_US", "category": "utility", "parameters": ["1"]}},
    ("POST", "/v1/campaigns"): {"id": "contract", "to": ["+14155550123", "+14155550124", "not a number"],
                                "template": {"name": "receipt", "category": "utility"}},
    ("POST", "/v1/contacts/{phone}/opt-out"): {"method": "api", "scope": "marketing", "note": "contract test"},
    ("POST", "/v1/contacts/{phone}/opt-in"): {"method": "manual", "note": "asked by phone"},
    ("POST", "/v1/leads"): {"name": "Contract Lead", "phone": "+14155550177", "email": "lead@example.com"},
    ("POST", "/v1/leads/bulk-delete"): {"ids": ["c_unknown"]},
    ("POST", "/v1/retention/sweep"): {"dry_run": True},
    ("POST", "/v1/leads/{id}/restrict"): {"restricted": True},
    ("POST", "/v1/leads/{id}/object"): {"purpose": "analytics"},
    ("POST", "/v1/leads/{id}/rectify"): {"name": "New Name"},
    ("POST", "/v1/leads/{id}/erase"): {},
    ("POST", "/v1/privacy/requests"): {"type": "erasure", "contact_id": "c_unknown"},
    ("POST", "/v1/account/terminate"): {"confirm": "not-this-tenant"},
    ("POST", "/v1/account/legal-hold"): {"held": False},
    ("POST", "/v1/leads/{id}/legal-hold"): {"held": True},
    ("POST", "/webhooks/forms/{integration}"): {"name": "Form Lead", "phone": "+14155550178"},
    ("POST", "/webhooks/whatsapp"): {"object": "whatsapp_business_account", "entry": []},
}
QUERIES = {("GET", "/webhooks/whatsapp"): "?hub.mode=subscribe&hub.verify_token=demo-verify-token&hub.challenge=42"}


def call(method, path, body, auth):
    url = f"http://127.0.0.1:{port}{path}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if auth:
        req.add_header("Authorization", "Bearer " + key)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


calls = 0
try:
    for path, ops in SPEC["paths"].items():
        for method, op in ops.items():
            method = method.upper()
            concrete = re.sub(r"\{(\w+)\}", lambda m: urllib.parse.quote(PARAMS[m.group(1)]), path)
            target = concrete + QUERIES.get((method, path), "")
            secured = op.get("security", SPEC.get("security")) != []
            for auth in ([True, False] if secured else [True]):
                status, headers, raw = call(method, target, BODIES.get((method, path)), auth)
                calls += 1
                where = f"{method} {path} ({'with' if auth else 'without'} key) -> {status}"
                documented_statuses = op["responses"]
                if str(status) not in documented_statuses:
                    fail(f"{where}: status not documented ({sorted(documented_statuses)}); body {raw[:200]!r}")
                    continue
                if not headers.get("X-Request-Id"):
                    fail(f"{where}: no X-Request-Id")
                response = resolve(documented_statuses[str(status)])
                content = response.get("content", {})
                ctype = headers.get("Content-Type", "").split(";")[0]
                if content and ctype not in content:
                    fail(f"{where}: content type {ctype} not documented ({list(content)})")
                    continue
                if ctype == "application/json":
                    check_schema(json.loads(raw), content[ctype]["schema"], where)
                if secured and not auth and status != 401:
                    fail(f"{where}: an unauthenticated call must be 401")
finally:
    proc.terminate()
    proc.wait(timeout=10)

print(f"calls: {calls}")
if failures:
    print(f"{len(failures)} contract failure(s)")
    sys.exit(1)
print("the server matches openapi.yaml")
