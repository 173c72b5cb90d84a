#!/usr/bin/env python3
"""Two `heroshhi serve` instances on one PostgreSQL database (issue 8, several instances):

- a STOP webhook through A: a send through B is refused (403 opted_out) within 1 second;
- a restriction through A (POST /v1/leads/{id}/restrict): a send through B is refused (restricted),
  and lifting it reaches B (each within 30 s: on a loaded machine a reload that fails is retried by
  the background re-check; the time it took is printed, not asserted);
- the same webhook delivered to A and B at once is recorded once;
- B stopped while A records opt-outs, then restarted: B never lets a send through to any of them
  (503 suppression_not_current until it is current, then 403 opted_out), and then has them all.

Usage: HEROSHHI_BIN=/path/to/heroshhi HEROSHHI_PG_URL=postgresql://... python3 tests/gateway/multi.py
(ctest sets both: the URL comes from the throwaway cluster of the "postgres" fixture). The test makes
a database of its own on that server and drops it at the end.
"""
import hashlib
import hmac
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

BIN = os.path.abspath(os.environ["HEROSHHI_BIN"])
ADMIN_URL = os.environ.get("HEROSHHI_PG_URL")
if not ADMIN_URL:
    print("FAIL HEROSHHI_PG_URL is not set: run through ctest (the postgres fixture starts a server)")
    sys.exit(1)
APP_SECRET = "multi-s3cret"
NUMBER_ID = "771122334455667"
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def psql(url, sql):
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True, capture_output=True)


def url_for(dbname):
    head, _, tail = ADMIN_URL.partition("?")
    scheme_end = head.index("://") + 3
    slash = head.find("/", scheme_end)
    base = head if slash < 0 else head[:slash]
    return base + "/" + dbname + ("?" + tail if tail else "")


dbname = "heroshhi_multi_%d_%d" % (os.getpid(), random.randrange(1 << 30))
psql(ADMIN_URL, "CREATE DATABASE " + dbname)
DB_URL = url_for(dbname)
work = tempfile.mkdtemp()
config = os.path.join(work, "gateway.json")
with open(config, "w") as f:
    # Plain HTTP on loopback; the Graph API at a port nothing listens on (a send the gate allows
    # then fails at the provider, which is all this test needs to tell "allowed" from "refused").
    json.dump({"bind": "127.0.0.1", "port": 0, "database": DB_URL, "threads": 2,
               "graph_base_url": "http://127.0.0.1:9", "graph_token": "t", "recheck_ms": 60000}, f)
env = dict(os.environ, HEROSHHI_APP_SECRET=APP_SECRET, HEROSHHI_VERIFY_TOKEN="vt")
env.pop("HEROSHHI_SQLITE", None)

procs = []


def start(name):
    proc = subprocess.Popen([BIN, "serve", "--config", config], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    procs.append(proc)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
            return proc, int(m.group(1))
    proc.kill()
    print("FAIL instance %s did not start: %s" % (name, proc.stderr.read()))
    sys.exit(1)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()


def call(port, method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def webhook(port, wa_id, text, wamid):
    payload = {"object": "whatsapp_business_account", "entry": [{"id": "880011223344556", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "4915112345678", "phone_number_id": NUMBER_ID},
            "contacts": [{"profile": {"name": "Lead"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": wamid, "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}]}}]}]}
    raw = json.dumps(payload).encode()
    sig = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return call(port, "POST", "/webhooks/whatsapp", raw=raw, headers={"X-Hub-Signature-256": sig})


def send(port, to):
    return call(port, "POST", "/v1/messages",
                {"to": to, "template": {"name": "receipt", "language": "en_US", "category": "utility"}},
                {"Authorization": "Bearer " + api_key})


def code_of(answer):
    status, body = answer
    return status, (body or {}).get("error", {}).get("code") if isinstance(body, dict) else None


try:
    bad = os.path.join(work, "bad.json")
    with open(bad, "w") as f:
        json.dump({"database": "mysql://db/heroshhi"}, f)
    r = subprocess.run([BIN, "serve", "--config", bad], env=env, capture_output=True, text=True)
    check(r.returncode == 2 and "'database': must be a PostgreSQL connection string" in r.stderr,
          "a database that is not PostgreSQL is refused: " + r.stderr.strip())

    r = subprocess.run([BIN, "create-tenant", "--config", config, "--id", "acme", "--phone-number-id", NUMBER_ID],
                       env=env, capture_output=True, text=True)
    check(r.returncode == 0, "create-tenant on PostgreSQL: " + r.stderr.strip())
    r = subprocess.run([BIN, "create-key", "--config", config, "--tenant", "acme", "--user", "u1", "--role", "owner"],
                       env=env, capture_output=True, text=True)
    api_key = r.stdout.strip()
    check(r.returncode == 0 and api_key.startswith("hsk_"), "create-key on PostgreSQL")

    a, a_port = start("A")
    b, b_port = start("B")
    check(call(a_port, "GET", "/healthz")[0] == 200 and call(b_port, "GET", "/healthz")[0] == 200, "both instances up")

    # --- STOP through A, send through B refused within 1 second ------------------------------------
    lead = "+4917698765432"
    # Answering /healthz does not mean current: a fresh instance refuses sends (503
    # suppression_not_current) until its feed is listening and it has read the log. Wait for that.
    began = time.monotonic()
    before = code_of(send(b_port, lead))
    while before[1] == "suppression_not_current" and time.monotonic() - began < 10:
        time.sleep(0.05)
        before = code_of(send(b_port, lead))
    check(before[1] not in ("opted_out", "suppression_not_current"),
          "before the STOP, B's gate lets the send through to the provider: %s" % (before,))
    status, _ = webhook(a_port, lead[1:], "STOP", "wamid.multi-stop-1")
    check(status == 200, "STOP webhook accepted by A")
    stopped_at = time.monotonic()
    refused_after = None
    answers = {}  # what B answered meanwhile, and how often: says why when it never refuses
    while time.monotonic() - stopped_at < 5:
        answer = code_of(send(b_port, lead))
        answers[answer] = answers.get(answer, 0) + 1
        if answer == (403, "opted_out"):
            refused_after = time.monotonic() - stopped_at
            break
        time.sleep(0.01)
    check(refused_after is not None and refused_after < 1.0,
          "a send through B is refused (403 opted_out) %s after the STOP through A (B's answers: %s)" %
          ("%.0f ms" % (refused_after * 1000) if refused_after is not None else "never", answers))

    # --- a restriction through A: a send through B refused within 1 second; lifted likewise -------
    patient = "+4917698765499"
    status, created = call(a_port, "POST", "/v1/leads", {"name": "Restricted Lead", "phone": patient},
                           {"Authorization": "Bearer " + api_key})
    check(status == 201, "A creates a lead: %d" % status)
    lead_id = (created or {}).get("id", "")
    check(code_of(send(b_port, patient))[1] not in ("restricted", "suppression_not_current"),
          "before the restriction, B lets the send through to the provider")

    def b_answers_within(done):
        began = time.monotonic()
        while time.monotonic() - began < 30:
            asked = time.monotonic()  # a send let through waits for the provider: time the asking
            if done(code_of(send(b_port, patient))[1]):
                return asked - began
            time.sleep(0.01)
        return None

    status, _ = call(a_port, "POST", "/v1/leads/%s/restrict" % lead_id, {"restricted": True},
                     {"Authorization": "Bearer " + api_key})
    check(status == 200, "A restricts the lead: %d" % status)
    after = b_answers_within(lambda code: code == "restricted")
    check(after is not None, "a send through B is refused (restricted) %s after the restriction through A" %
          ("%.0f ms" % (after * 1000) if after is not None else "never (30 s)"))
    status, _ = call(a_port, "POST", "/v1/leads/%s/restrict" % lead_id, {"restricted": False},
                     {"Authorization": "Bearer " + api_key})
    check(status == 200, "A lifts the restriction: %d" % status)
    # Not "suppression_not_current" either: B refuses while it reloads, which is not yet the lifting.
    after = b_answers_within(lambda code: code not in ("restricted", "suppression_not_current"))
    check(after is not None, "B no longer refuses it as restricted %s after the lifting through A" %
          ("%.0f ms" % (after * 1000) if after is not None else "never (30 s)"))

    # --- the same webhook to A and B at once: recorded once -----------------------------------------
    twin = "+4917698765433"
    answers = []
    threads = [threading.Thread(target=lambda p=p: answers.append(webhook(p, twin[1:], "STOP", "wamid.multi-twin")))
               for p in (a_port, b_port)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check([s for s, _ in answers] == [200, 200], "both instances answer 200 to the duplicate delivery")
    status, consent = call(a_port, "GET", "/v1/contacts/%s/consent" % twin, headers={"Authorization": "Bearer " + api_key})
    check(status == 200 and consent.get("events") == 1 and consent.get("opted_out") is True,
          "the duplicate is recorded once: %s" % consent.get("events"))
    check(all(code_of(send(p, twin)) == (403, "opted_out") for p in (a_port, b_port)), "and both instances refuse the number")

    # --- B restarted while A records opt-outs -----------------------------------------------------
    stop(b)
    numbers = ["+1415555%04d" % i for i in range(20)]
    for i, n in enumerate(numbers):
        status, _ = call(a_port, "POST", "/v1/contacts/%s/opt-out" % n, {"method": "api", "note": "restart test"},
                         {"Authorization": "Bearer " + api_key})
        if status != 201:
            check(False, "A records opt-out %d: %d" % (i, status))
    b, b_port = start("B again")
    seen = {}
    leaked = []
    deadline = time.monotonic() + 10
    # From B's first moment: each of those numbers is refused, either because B is not yet current
    # or because it has the opt-out; never let through.
    while time.monotonic() < deadline and len([n for n in numbers if seen.get(n) == "opted_out"]) < len(numbers):
        for n in numbers:
            status, code = code_of(send(b_port, n))
            if code not in ("suppression_not_current", "opted_out"):
                leaked.append((n, status, code))
            seen[n] = code
    check(not leaked, "the restarted B never lets a send through to a number A opted out: %s" % leaked[:3])
    check(all(seen.get(n) == "opted_out" for n in numbers), "then B has all %d opt-outs" % len(numbers))
finally:
    for p in procs:
        if p.poll() is None:
            stop(p)
    try:
        psql(ADMIN_URL, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % dbname)
    except subprocess.CalledProcessError:
        pass

print("%d failure(s)" % len(failures))
sys.exit(1 if failures else 0)
