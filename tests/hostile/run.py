#!/usr/bin/env python3
"""The hostile-input catalogue (tests/hostile/catalogue/*.yaml) against a real `heroshhi serve` on
loopback. Every case states the answer expected (status and error code); every refused case must
leave the stored state as it was (a digest of every table but the audit trail, read from the SQLite
file); no cross-tenant read or write may succeed; the audit chains stay intact.

Usage: HEROSHHI_BIN=/path/to/heroshhi python3 tests/hostile/run.py [--only GROUP] [--record]
  GROUP: requests, raw, fields, tenancy, exports (default: all)
  --record prints every answer instead of only the mismatches (to write a new case's expectation)
Prints one line per failure and a closing "N passed, N failed" line; exit 1 on any failure.
"""
import base64
import copy
import json
import os
import re
import string
import sys
import threading
import time
import urllib.parse

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gateway import (APP_SECRET, ROLES, VERIFY_TOKEN, Gateway, error_code, parse_raw_responses,  # noqa: E402
                     snapshot_diff)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CATALOGUE = os.path.join(HERE, "catalogue")
ARGS = sys.argv[1:]
RECORD = "--record" in ARGS
ONLY = ARGS[ARGS.index("--only") + 1] if "--only" in ARGS else None

passed = 0
failed = []
counts = {}  # what was tried, for the figures


def count(what, n=1):
    counts[what] = counts.get(what, 0) + n


def check(ok, what):
    global passed
    if ok:
        passed += 1
        if RECORD:
            print("ok  ", what)
    else:
        failed.append(what)
        print("FAIL", what)


def load(name):
    with open(os.path.join(CATALOGUE, name)) as f:
        return yaml.safe_load(f)


# --- fixtures ---------------------------------------------------------------------------------------

class Fixtures(dict):
    """${name} values; a few are made fresh on every use."""

    def __init__(self, gw):
        super().__init__()
        self.gw = gw
        self.phone_counter = 2000
        self.wamid_counter = 0

    def fresh_phone(self):
        self.phone_counter += 1
        return f"+1415555{self.phone_counter:04d}"

    def expand(self, value):
        if isinstance(value, str):
            return self.expand_text(value)
        if isinstance(value, list):
            return [self.expand(v) for v in value]
        if isinstance(value, dict):
            return {self.expand(k): self.expand(v) for k, v in value.items()}
        return value

    def expand_text(self, text):
        def one(m):
            name = m.group(1)
            if name == "fresh_phone":
                return self.fresh_phone()
            if name == "wamid":
                self.wamid_counter += 1
                return f"wamid.hostile{self.wamid_counter:06d}"
            if name == "now":
                return str(int(time.time()))
            if name.startswith("padding_"):
                return "a" * int(name[8:])
            if name.startswith("digits_"):
                return "1" * int(name[7:])
            if name.startswith("filler_"):
                return "a" * int(name[7:])
            if name not in self:
                raise KeyError(f"no fixture ${{{name}}}")
            return str(self[name])
        return re.sub(r"\$\{(\w+)\}", one, text)


def inbound_delivery(number_id, sender_digits, text, wamid, name="Probe Contact"):
    """A Cloud API delivery of one inbound text message, built as text so hostile bytes survive."""
    return ('{"object":"whatsapp_business_account","entry":[{"id":"200000000000002","changes":[{"field":"messages",'
            '"value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111",'
            f'"phone_number_id":"{number_id}"}},"contacts":[{{"profile":{{"name":"{name}"}},"wa_id":"{sender_digits}"}}],'
            f'"messages":[{{"from":"{sender_digits}","id":"{wamid}","timestamp":"{int(time.time())}","type":"text",'
            f'"text":{{"body":"{text}"}}}}]}}}}]}}]}}')


def seed(gw, fx):
    """Leads, messages, opt-outs and requests in acme and globex: the data nobody else may touch."""
    def must(status, what, expected):
        if status not in expected:
            raise RuntimeError(f"seeding: {what} answered {status}")

    s, _, b = gw.call("POST", "/v1/leads", json.dumps({"name": "Acme Secret Lead", "phone": "+14155550101",
                                                       "email": "secret-lead@acme.example", "assignee": "alice",
                                                       "team": "south"}), key="acme.owner")
    must(s, "acme lead", (201,))
    fx["lead_a"] = json.loads(b)["id"]
    fx["phone_a"] = "+14155550101"
    fx["phone_a_digits"] = "14155550101"
    s, _, b = gw.call("POST", "/v1/leads", json.dumps({"name": "Rectify Me", "phone": "+14155550102"}), key="acme.owner")
    must(s, "acme lead 2", (201,))
    fx["rectify_lead"] = json.loads(b)["id"]
    s, _, b = gw.call("POST", "/v1/leads", json.dumps({"name": "Globex Lead", "phone": "+14155550101",
                                                       "email": "lead@globex.example"}), key="globex.owner")
    must(s, "globex lead", (201,))
    fx["lead_g"] = json.loads(b)["id"]
    # An inbound message for acme's lead (a stored message row), an opt-out, a privacy request.
    body = inbound_delivery(gw.number_ids["acme"], "14155550101", "hello from acme", "wamid.seed1")
    s, _, _ = gw.call("POST", "/webhooks/whatsapp", body, headers={"X-Hub-Signature-256": Gateway.sign(APP_SECRET, body)})
    must(s, "acme inbound", (200,))
    s, _, _ = gw.call("POST", "/v1/contacts/+14155550103/opt-out", "{}", key="acme.owner")
    must(s, "acme opt-out", (201,))
    s, _, _ = gw.call("POST", "/v1/privacy/requests", json.dumps({"type": "access", "contact_id": fx["lead_a"]}),
                      key="acme.owner")
    must(s, "acme request", (201,))
    fx["form_a"] = gw.integrations["acme"][0]
    fx["number_a"] = gw.number_ids["acme"]
    fx["phone_replay"] = "+14155550104"
    fx["verify_token"] = VERIFY_TOKEN
    token = gw.keys["acme.owner"]
    fx["key"] = token
    fx["acme_owner_key_id"] = token.rsplit("_", 1)[0]
    last = token[-1]
    fx["acme_owner_altered"] = token[:-1] + ("0" if last != "0" else "1")


# --- one HTTP case ----------------------------------------------------------------------------------

def generate(spec, fx):
    kind, n = next(iter(spec.items()))
    if kind == "nested":
        return "[" * n + "]" * n
    if kind == "nested_object":
        return '{"a":' * n + "1" + "}" * n
    if kind == "big_name":
        return json.dumps({"name": "x" * n, "phone": fx.fresh_phone()})
    if kind == "filler":
        return "a" * n
    if kind == "many_keys":
        return json.dumps({f"k{i}": i for i in range(n)})
    if kind == "inbound":
        spec = fx.expand(n)
        sender = spec["from"].lstrip("+")
        return inbound_delivery(fx["number_a"], sender, spec["text"], spec.get("id") or fx.expand_text("${wamid}"))
    raise ValueError(f"unknown generator {kind}")


def build_request(req, fx):
    """(method, path, body bytes or None, headers, key) from a case's `request`."""
    method = req.get("method", "GET")
    path = fx.expand_text(req["path"])
    if "json" in req:
        body = json.dumps(fx.expand(req["json"]), separators=(",", ":"))
    elif "body" in req:
        body = fx.expand_text(req["body"])
    elif "generate" in req:
        body = generate(req["generate"], fx)
    else:
        body = None
    if body is not None:
        body = body.encode("latin-1") if req.get("latin1") else body.encode("utf-8")
    headers = fx.expand(req.get("headers", {}))
    sign = req.get("sign")
    if sign:
        secret = {"app": APP_SECRET, "app_truncated": APP_SECRET, "app_then_append": APP_SECRET,
                  "wrong_secret": "not-the-app-secret", "form": fx.gw.integrations["acme"][1],
                  "form_other_tenant": fx.gw.integrations["globex"][1]}[sign]
        value = Gateway.sign(secret, body or b"")
        if sign == "app_truncated":
            value = value[:-1]
        if sign == "app_then_append":
            body = body + b" "
        headers["X-Hub-Signature-256" if sign.startswith(("app", "wrong")) else "X-Heroshhi-Signature"] = value
    return method, path, body, headers, req.get("as")


def send(gw, method, path, body, headers, key, nul_in_key=False):
    if nul_in_key:
        # http.client refuses control characters in a header: this one goes out raw.
        token = gw.keys["acme.owner"]
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token[:20]}\0{token[20:]}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body or b'')}\r\nConnection: close\r\n\r\n")
        data, _ = gw.raw(head.encode("latin-1") + (body or b""))
        responses = parse_raw_responses(data)
        return responses[0] if responses else (0, {}, b"")
    return gw.call(method, path, body, headers=headers, key=key)


def matches(expect, status, headers, body):
    """Why the answer does not match `expect` ('' when it does)."""
    problems = []
    if "status" in expect and status != expect["status"]:
        problems.append(f"status {status} (want {expect['status']})")
    if "code" in expect and error_code(body) != expect["code"]:
        problems.append(f"code {error_code(body)!r} (want {expect['code']!r})")
    if "body_has" in expect and expect["body_has"].encode() not in body:
        problems.append(f"body lacks {expect['body_has']!r}")
    if "body_lacks" in expect and expect["body_lacks"].encode() in body:
        problems.append(f"body has {expect['body_lacks']!r}")
    if "body_is" in expect and body != expect["body_is"].encode():
        problems.append(f"body is {body[:80]!r} (want {expect['body_is']!r})")
    if "content_type_is" in expect and not headers.get("content-type", "").startswith(expect["content_type_is"]):
        problems.append(f"content-type {headers.get('content-type')!r}")
    for name, value in expect.get("header_is", {}).items():
        if headers.get(name) != value:
            problems.append(f"header {name}: {headers.get(name)!r} (want {value!r})")
    for name, value in expect.get("header_lacks", {}).items():
        if value in headers.get(name, ""):
            problems.append(f"header {name} has {value!r}")
    if status >= 200 and headers.get("content-type", "").startswith("text/html"):
        problems.append("served as HTML")
    if status and headers.get("x-content-type-options") != "nosniff":
        problems.append("no X-Content-Type-Options: nosniff")
    return "; ".join(problems)


def describe(status, body):
    return f"{status} {error_code(body) or body[:100]!r}"


def run_requests(gw, fx):
    for case in load("requests.yaml")["cases"]:
        name = case["name"]
        count("catalogue inputs")
        req = dict(case["request"])
        method, path, body, headers, key = build_request(req, fx)
        before = gw.snapshot()
        status, rheaders, rbody = send(gw, method, path, body, headers, key, req.get("nul_in_key", False))
        after = gw.snapshot()
        expect = case["expect"]
        why = matches(expect, status, rheaders, rbody)
        check(not why, f"requests: {name}: {describe(status, rbody)}" + (f" — {why}" if why else ""))
        changed = snapshot_diff(before, after)
        if status >= 400 or expect.get("store") == "unchanged":
            check(not changed, f"requests: {name}: stored state unchanged" + (f" (changed: {changed})" if changed else ""))
        if "replay" in case:
            count("catalogue inputs")
            before = gw.snapshot()
            status, rheaders, rbody = send(gw, method, path, body, headers, key, req.get("nul_in_key", False))
            why = matches(case["replay"], status, rheaders, rbody)
            check(not why, f"requests: {name} (replayed): {describe(status, rbody)}" + (f" — {why}" if why else ""))
            changed = snapshot_diff(before, gw.snapshot())
            check(not changed, f"requests: {name} (replayed): stored state unchanged" + (f" (changed: {changed})" if changed else ""))
    # The replayed STOP: exactly one opt-out for that number.
    n = gw.rows("SELECT COUNT(*) FROM optout_events WHERE tenant = 'acme' AND phone_e164 = ?", (fx["phone_replay"],))[0][0]
    check(n == 1, f"requests: a replayed STOP is one opt-out event (found {n})")
    n = gw.rows("SELECT COUNT(*) FROM optout_events WHERE phone_e164 = ? AND method = 'keyword'", (fx["phone_a"],))[0][0]
    check(n == 0, f"requests: no forged or malformed STOP became an opt-out for acme's lead (found {n})")


# --- raw sockets ------------------------------------------------------------------------------------

def run_raw_case(gw, fx, case, results):
    start = time.time()
    if "raw" in case:
        data, closed = gw.raw(fx.expand_text(case["raw"]).encode("latin-1"))
    else:
        t = case["trickle"]
        head = fx.expand_text(t.get("head", "")).encode("latin-1")
        text = fx.expand_text(t["text"]).encode("latin-1")
        steps = int(t["until_s"] / t["every_s"])
        chunks = ([(head, 0)] if head else []) + [(text[i:i + 1], t["every_s"]) for i in range(min(steps, len(text)))]
        data, closed = gw.trickle(chunks, until_s=t["until_s"] + 2)
    results[case["name"]] = (data, closed, time.time() - start)


def run_raw(gw, fx):
    cases = load("raw.yaml")["cases"]
    before = gw.snapshot()
    results = {}
    # The slow clients run together in the background while the fast cases run and while the
    # server keeps answering others: 3 cases plus 48 more idle or trickling connections.
    slow = [c for c in cases if "trickle" in c]
    threads = [threading.Thread(target=run_raw_case, args=(gw, fx, c, results)) for c in slow]
    idle = [threading.Thread(target=lambda i=i: gw.trickle([(b"GET /healthz HTTP/1.1\r\n", 0)] +
                                                           [(b"X", 1)] * 20, until_s=20)) for i in range(48)]
    for t in threads + idle:
        t.start()
    count("slow-loris connections", len(threads) + len(idle))
    for case in cases:
        if "raw" in case:
            run_raw_case(gw, fx, case, results)
    healthy = 0
    for _ in range(20):
        s, _, _ = gw.call("GET", "/healthz")
        healthy += s == 200
        time.sleep(0.25)
    check(healthy == 20, f"raw: /healthz answers while 51 slow connections are open ({healthy}/20)")
    for t in threads + idle:
        t.join()
    for case in cases:
        count("catalogue inputs")
        data, closed, took = results[case["name"]]
        responses = parse_raw_responses(data)
        e = case["expect"]
        problems = []
        if "responses" in e and len(responses) != e["responses"]:
            problems.append(f"{len(responses)} responses (want {e['responses']})")
        if responses and "status" in e and responses[0][0] != e["status"]:
            problems.append(f"status {responses[0][0]} (want {e['status']})")
        if responses and "code" in e and error_code(responses[0][2]) != e["code"]:
            problems.append(f"code {error_code(responses[0][2])!r} (want {e['code']!r})")
        if len(responses) > 1 and "second_status" in e and responses[1][0] != e["second_status"]:
            problems.append(f"second status {responses[1][0]} (want {e['second_status']})")
        if e.get("closed") and not closed:
            problems.append("connection left open")
        if "closed_within_s" in e and took > e["closed_within_s"]:
            problems.append(f"closed after {took:.1f} s (want within {e['closed_within_s']} s)")
        got = ", ".join(f"{r[0]} {error_code(r[2])}" for r in responses) or "no response"
        check(not problems, f"raw: {case['name']}: {got}" + (f" — {'; '.join(problems)}" if problems else ""))
    changed = snapshot_diff(before, gw.snapshot())
    check(not changed, "raw: stored state unchanged after every raw case" + (f" (changed: {changed})" if changed else ""))
    check(gw.alive(), "raw: the gateway is still running")


# --- field injection --------------------------------------------------------------------------------

def set_path(doc, dotted, value):
    parts = dotted.split(".")
    node = doc
    for p in parts[:-1]:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    last = parts[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def has_control(text):
    return any(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f for c in text)


def run_fields(gw, fx):
    doc = load("fields.yaml")
    payloads = doc["payloads"]
    stored = []  # (endpoint, field, payload) accepted and kept
    for target in doc["targets"]:
        endpoint = target["endpoint"]
        method, route = endpoint.split(" ")[:2]
        for field, rule in target["fields"].items():
            for kind, values in payloads.items():
                for payload in values:
                    count("catalogue inputs")
                    count(f"field payloads ({kind})")
                    body = fx.expand(copy.deepcopy(target["body"]))
                    set_path(body, field, payload)
                    raw = json.dumps(body, separators=(",", ":")).encode()
                    path = fx.expand_text(target.get("path", route))
                    headers = {}
                    if target.get("sign") == "form":
                        headers["X-Heroshhi-Signature"] = Gateway.sign(gw.integrations["acme"][1], raw)
                    elif target.get("sign") == "app":
                        headers["X-Hub-Signature-256"] = Gateway.sign(APP_SECRET, raw)
                    kept = payload
                    if kind == "nosql":
                        expect = rule.get("nosql") or target.get("nosql") or {"status": 400, "code": "invalid_body"}
                        accepted = False
                    else:
                        controls = rule.get("controls", "reject")
                        kept = payload.strip() if controls == "trim" else payload
                        accepted = rule.get("text", False) and (controls == "keep" or not has_control(kept))
                        expect = target.get("accepted", {}) if accepted else rule["reject"]
                    before = gw.snapshot()
                    status, rheaders, rbody = gw.call(method, path, raw, headers=headers, key=target.get("as"))
                    label = f"fields: {endpoint} {field} = {json.dumps(payload)[:60]}"
                    why = matches(expect, status, rheaders, rbody)
                    check(not why, f"{label}: {describe(status, rbody)}" + (f" — {why}" if why else ""))
                    if status >= 400 and not (accepted and expect.get("status", 0) >= 400):
                        changed = snapshot_diff(before, gw.snapshot())
                        check(not changed, f"{label}: stored state unchanged" + (f" (changed: {changed})" if changed else ""))
                    if accepted and status < 300 and rule.get("read_back"):
                        rb = target["read_back"]
                        fx["id"] = json.loads(rbody).get("id", "")
                        s, _, got = gw.call("GET", fx.expand_text(rb["path"]), key=rb["as"])
                        value = json.loads(got).get(rule["read_back"]) if s == 200 else None
                        check(value == kept, f"{label}: reads back byte for byte ({value!r})")
                        stored.append((endpoint, field, kept, fx["id"]))
    for p in doc["parameters"]:
        for kind, values in payloads.items():
            for payload in values:
                count("catalogue inputs")
                count(f"parameter payloads ({kind})")
                text = payload if isinstance(payload, str) else json.dumps(payload)
                path = fx.expand_text(p["path"].replace("${payload}", "\x00PAYLOAD\x00"))
                path = path.replace("\x00PAYLOAD\x00", urllib.parse.quote(text, safe=""))
                headers = {}
                body = b"{}" if p.get("method") == "POST" else None
                if p.get("sign") == "form":
                    headers["X-Heroshhi-Signature"] = Gateway.sign(gw.integrations["acme"][1], body)
                before = gw.snapshot()
                status, rheaders, rbody = gw.call(p.get("method", "GET"), path, body, headers=headers, key=p.get("as"))
                label = f"parameters: {p['name']} = {text[:60]!r}"
                expect = p["expect"]
                why = matches(expect, status, rheaders, rbody)
                check(not why, f"{label}: {describe(status, rbody)}" + (f" — {why}" if why else ""))
                changed = snapshot_diff(before, gw.snapshot())
                check(not changed, f"{label}: stored state unchanged" + (f" (changed: {changed})" if changed else ""))
    return stored


# --- exports: every payload that was stored, encoded or neutralised on the way out -------------------

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cells(text):
    import csv
    import io
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def check_csv(label, text, payloads):
    cells = csv_cells(text.lstrip("\ufeff"))
    bad = [c for c in cells if c.startswith(FORMULA_START)]
    check(not bad, f"exports: {label}: no cell starts a formula ({bad[:3]})")
    for p in payloads:
        if p.startswith(FORMULA_START):
            check(("'" + p) in cells, f"exports: {label}: {p!r} neutralised with a leading apostrophe")
        else:
            check(p in cells, f"exports: {label}: {p!r} kept as text")


def json_strings(doc):
    if isinstance(doc, str):
        return [doc]
    if isinstance(doc, dict):
        return [s for v in list(doc.values()) + list(doc.keys()) for s in json_strings(v)]
    if isinstance(doc, list):
        return [s for v in doc for s in json_strings(v)]
    return []


def run_exports(gw, fx, stored):
    # What the lead name field kept (the CSV's name column): every string payload without a control character.
    names = [p for (e, f, p, _) in stored if e == "POST /v1/leads" and f == "name"]
    if not names:
        check(False, "exports: the field run stored no lead names to check")
        return
    status, headers, body = gw.call("GET", "/v1/exports/leads.csv", key="acme.owner")
    count("exports checked")
    check(status == 200 and headers.get("content-type", "").startswith("text/csv")
          and headers.get("content-disposition") == 'attachment; filename="leads.csv"'
          and headers.get("x-content-type-options") == "nosniff",
          f"exports: API CSV served as an attachment, text/csv, nosniff ({status} {headers.get('content-type')})")
    check_csv("API leads.csv", body.decode("utf-8"), names)
    rc, out = gw.export_csv("acme")
    count("exports checked")
    check(rc == 0, f"exports: the operator's export runs (exit {rc})")
    check_csv("operator export", out.decode("utf-8"), names)
    # The subject's own export of a lead whose name is a formula and of one whose name is a script.
    for payload in (p for p in names if p.startswith("=") or p.startswith("<script")):
        lead = next(i for (e, f, p, i) in stored if e == "POST /v1/leads" and f == "name" and p == payload)
        for fmt in ("csv", "json"):
            count("exports checked")
            s, h, b = gw.call("GET", f"/v1/leads/{lead}/export?format={fmt}", key="acme.owner")
            ok = s == 200 and h.get("content-disposition", "").startswith("attachment;") and \
                h.get("x-content-type-options") == "nosniff" and not h.get("content-type", "").startswith("text/html")
            check(ok, f"exports: subject export ({fmt}) of {payload[:30]!r} is an attachment, never HTML ({s} {h.get('content-type')})")
            if fmt == "csv":
                cells = csv_cells(b.decode("utf-8").lstrip("\ufeff"))
                bad = [c for c in cells if c.startswith(FORMULA_START)]
                check(not bad, f"exports: subject CSV of {payload[:30]!r} starts no formula ({bad[:3]})")
            else:
                check(payload in json_strings(json.loads(b)), f"exports: subject JSON keeps {payload[:30]!r} as a JSON string")
    # A lead's message history (outbound sends; the webhook classifies inbound texts but does not
    # keep their bodies) is served as JSON with nosniff, never as markup.
    s, h, b = gw.call("GET", f"/v1/leads/{fx['lead_a']}/messages", key="acme.owner")
    count("exports checked")
    check(s == 200 and h.get("content-type") == "application/json" and h.get("x-content-type-options") == "nosniff",
          f"exports: a lead's messages are JSON with nosniff ({s} {h.get('content-type')})")


# --- tenancy ----------------------------------------------------------------------------------------

def readme_matrix():
    """role -> resource type -> {action: set of conditions} from the README's table (the one
    tests/unit-rbac.cpp checks against the code, cell by cell)."""
    actions = ["read", "create", "update", "delete", "bulk_delete", "export", "send", "send_campaign", "assign",
               "manage", "terminate_account", "transfer_ownership"]
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text.split("## Roles and permissions", 1)[1]
    lines = [l for l in section.splitlines() if l.startswith("|")]
    roles = [c.strip() for c in lines[0].strip("|").split("|")][1:]
    matrix = {r: {} for r in roles}
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rtype = cells[0].strip("`")
        for role, cell in zip(roles, cells[1:]):
            allowed = {}
            if cell != "—":
                for clause in cell.split(";"):
                    clause = clause.strip()
                    cond = "always"
                    for suffix, c in (("(own team)", "own_team"), ("(assigned to them)", "assigned"),
                                      ("(made by them)", "assigned"), ("(their own)", "self")):
                        if clause.endswith(suffix):
                            clause, cond = clause[:-len(suffix)].strip(), c
                    if clause == "all" or clause.startswith("all except "):
                        names = set(actions) - {a.strip() for a in clause[11:].split(",")} if clause != "all" else set(actions)
                    else:
                        names = {a.strip().strip("`") for a in clause.split(",")}
                    for a in names:
                        allowed.setdefault(a, set()).add(cond)
            matrix[role][rtype] = allowed
    return matrix


def operations_from_spec():
    spec = yaml.safe_load(open(os.path.join(ROOT, "examples", "gateway", "openapi.yaml")))
    ops = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            if method in ("get", "post", "put", "delete", "patch"):
                secured = op.get("security", spec.get("security")) != []
                ops.append((f"{method.upper()} {path}", secured))
    return ops


def op_request(op, tmpl, fx):
    method, route = op.split(" ")
    path = fx.expand_text(tmpl.get("path", route))
    body = json.dumps(fx.expand(tmpl["body"])).encode() if "body" in tmpl else None
    return method, path, body


def run_tenancy(gw, fx):
    doc = load("tenancy.yaml")
    templates, keyless = doc["operations"], doc["keyless"]
    ops = operations_from_spec()
    for op, secured in ops:
        if secured:
            check(op in templates, f"tenancy: {op} has a request template (add it to tenancy.yaml)")
        else:
            check(op in keyless, f"tenancy: {op} takes no key and is listed under keyless with a reason")
    matrix = readme_matrix()

    # Cross-tenant: globex's owner on acme's ids.
    acme_markers = [b"Acme Secret Lead", b"secret-lead@acme.example", b"hello from acme"]
    fx["lead"], fx["phone"], fx["tenant"] = fx["lead_a"], fx["phone_a"], "acme"
    for op, secured in ops:
        if not secured or op not in templates:
            continue
        count("catalogue inputs")
        count("cross-tenant calls")
        fx["n"] = counts["cross-tenant calls"]
        method, path, body = op_request(op, templates[op], fx)
        before = gw.snapshot("acme")
        status, headers, rbody = gw.call(method, path, body, key="globex.owner")
        changed = snapshot_diff(before, gw.snapshot("acme"))
        expect = templates[op]["cross"]
        why = matches(expect, status, headers, rbody)
        check(not why, f"cross-tenant: {op}: {describe(status, rbody)}" + (f" — {why}" if why else ""))
        check(not changed, f"cross-tenant: {op}: acme's stored rows unchanged" + (f" (changed: {changed})" if changed else ""))
        leaked = [m.decode() for m in acme_markers if m in rbody]
        # Answers that echo the id the caller itself sent (bulk-delete's not_found, its own
        # requests and audit entries naming that id) are not a leak.
        echoes = ("POST /v1/leads/bulk-delete", "POST /v1/privacy/requests", "GET /v1/privacy/requests", "GET /v1/audit")
        if status < 300 and fx["lead_a"].encode() in rbody and op not in echoes:
            leaked.append("acme's lead id")
        check(not leaked, f"cross-tenant: {op}: nothing of acme in the answer" + (f" ({leaked})" if leaked else ""))
    # acme's lead is still there, unchanged, for acme.
    s, _, b = gw.call("GET", f"/v1/leads/{fx['lead_a']}", key="acme.owner")
    check(s == 200 and json.loads(b)["name"] == "Acme Secret Lead", "cross-tenant: acme's lead is intact for acme")

    # Role escalation in initech: a fresh lead of another team and assignee per operation.
    for op, secured in ops:
        if not secured or op not in templates:
            continue
        tmpl = templates[op]
        rtype, action = tmpl["rbac"]
        for role in ROLES:
            phone = fx.fresh_phone()
            s, _, b = gw.call("POST", "/v1/leads", json.dumps({"name": "Foreign Lead", "phone": phone,
                                                               "assignee": "someone-else", "team": "south"}),
                              key="initech.owner")
            if s != 201:
                check(False, f"roles: could not create initech's foreign lead ({s})")
                continue
            fx["lead"], fx["phone"], fx["tenant"] = json.loads(b)["id"], phone, "initech"
            count("catalogue inputs")
            count("endpoint x role calls")
            fx["n"] = counts["endpoint x role calls"]
            conds = matrix[role].get(rtype, {}).get(action, set())
            allowed = "always" in conds or (tmpl.get("own_team") and "own_team" in conds)
            method, path, body = op_request(op, tmpl, fx)
            before = gw.snapshot("initech")
            status, headers, rbody = gw.call(method, path, body, key=f"initech.{role}")
            code = error_code(rbody)
            changed = snapshot_diff(before, gw.snapshot("initech"))
            what = f"roles: {op} as {role} ({rtype} {action}: {'allowed' if allowed else 'denied'} by the matrix)"
            if allowed:
                check(status != 401 and not (status == 403 and code in ("not_authorized", "cross_tenant")),
                      f"{what}: {describe(status, rbody)}")
            else:
                check(status == 403 and code == "not_authorized", f"{what}: {describe(status, rbody)}")
                # The foreign lead made for this call is part of `before`: nothing else may change.
                check(not changed, f"{what}: stored state unchanged" + (f" (changed: {changed})" if changed else ""))


# --- main -------------------------------------------------------------------------------------------

def main():
    binary = os.path.abspath(os.environ["HEROSHHI_BIN"])
    gw = Gateway(binary, ["acme", "globex", "initech"])
    started = time.time()
    try:
        fx = Fixtures(gw)
        seed(gw, fx)
        stored = []
        if ONLY in (None, "requests"):
            run_requests(gw, fx)
        if ONLY in (None, "raw"):
            run_raw(gw, fx)
        if ONLY in (None, "fields", "exports"):
            stored = run_fields(gw, fx)
        if ONLY in (None, "exports", "fields"):
            run_exports(gw, fx, stored)
        if ONLY in (None, "tenancy"):
            run_tenancy(gw, fx)
        check(gw.alive(), "the gateway survived the catalogue")
    finally:
        code = gw.stop()
    check(code == 0, f"the gateway stopped cleanly on SIGTERM (exit {code})")
    for tenant in ("acme", "globex", "initech"):
        r = gw.operator("audit-verify", "--tenant", tenant)
        check(r.startswith("intact"), f"audit chain of {tenant}: {r.strip()}")
    print("figures: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) +
          f", seconds={time.time() - started:.0f}")
    print(f"{passed} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
