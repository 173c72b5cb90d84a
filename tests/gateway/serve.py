#!/usr/bin/env python3
"""`heroshhi serve` as an operator runs it: a config file plus HEROSHHI_* environment, TLS 1.3 on
loopback with a throwaway certificate, operator subcommands (create-tenant, create-key,
audit-verify), a TLS 1.2-only client refused, and a clean stop on SIGTERM.

Usage: HEROSHHI_BIN=/path/to/heroshhi python3 tests/gateway/serve.py  (ctest sets it)
"""
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import http.client

BIN = os.path.abspath(os.environ["HEROSHHI_BIN"])
work = tempfile.mkdtemp()
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
config = os.path.join(work, "gateway.json")
with open(config, "w") as f:
    json.dump({"bind": "127.0.0.1", "port": 0, "tls_cert": cert, "tls_key": key,
               "sqlite": os.path.join(work, "gw.db"), "threads": 2}, f)
env = dict(os.environ, HEROSHHI_APP_SECRET="s3cret", HEROSHHI_VERIFY_TOKEN="vt")

# A bad config is refused with a message naming the setting.
bad = os.path.join(work, "bad.json")
with open(bad, "w") as f:
    json.dump({"prot": 8080}, f)
r = subprocess.run([BIN, "serve", "--config", bad], env=env, capture_output=True, text=True)
check(r.returncode == 2 and "'prot': unknown setting" in r.stderr, "an unknown config key is refused: " + r.stderr.strip())
r = subprocess.run([BIN, "serve", "--config", config], env=dict(env, HEROSHHI_BIND="0.0.0.0", HEROSHHI_TLS_CERT="",
                                                                 HEROSHHI_TLS_KEY=""), capture_output=True, text=True)
check(r.returncode == 2 and "only served on loopback" in r.stderr, "plain HTTP off loopback is refused")

# Operator subcommands on the same database.
r = subprocess.run([BIN, "create-tenant", "--config", config, "--id", "acme", "--phone-number-id", "111"], env=env,
                   capture_output=True, text=True)
check(r.returncode == 0, "create-tenant")
r = subprocess.run([BIN, "create-key", "--config", config, "--tenant", "acme", "--user", "u1", "--role", "owner"],
                   env=env, capture_output=True, text=True)
api_key = r.stdout.strip()
check(r.returncode == 0 and re.fullmatch(r"hsk_[0-9a-f]{16}_[0-9a-f]{64}", api_key) is not None, "create-key prints a key")
r = subprocess.run([BIN, "create-key", "--config", config, "--tenant", "nope", "--user", "u1", "--role", "owner"],
                   env=env, capture_output=True, text=True)
check(r.returncode == 2 and "no tenant nope" in r.stderr, "a key for an unknown tenant is refused")

proc = subprocess.Popen([BIN, "serve", "--config", config], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True)
port = None
deadline = time.time() + 30
while time.time() < deadline and port is None:
    line = proc.stdout.readline()
    if m := re.search(r"listening on https://127\.0\.0\.1:(\d+)", line):
        port = int(m.group(1))
check(port is not None, "serve starts with TLS")
try:
    ctx = ssl.create_default_context(cafile=cert)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    conn.request("GET", "/healthz")
    resp = conn.getresponse()
    body = resp.read()
    check(resp.status == 200 and json.loads(body) == {"status": "ok"}, "GET /healthz over TLS 1.3")
    check(conn.sock.version() == "TLSv1.3", "negotiated " + str(conn.sock.version()))
    check(resp.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains", "HSTS header")
    conn.request("POST", "/v1/contacts/+14155550123/opt-out", body="{}",
                 headers={"Authorization": "Bearer " + api_key, "Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    check(resp.status == 201, "an opt-out through the API over TLS")

    old = ssl.create_default_context(cafile=cert)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    refused = False
    try:
        c2 = http.client.HTTPSConnection("127.0.0.1", port, context=old, timeout=10)
        c2.request("GET", "/healthz")
        c2.getresponse()
    except (ssl.SSLError, ConnectionError, OSError):
        refused = True
    check(refused, "a TLS 1.2-only client is refused")
finally:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
check(proc.returncode == 0 and "stopping" in out, "SIGTERM stops the server cleanly (exit %s)" % proc.returncode)
check("/v1/contacts/{phone}/opt-out 201" in err and "+14155550123" not in err,
      "the access log names the route, never the number")

out_csv = os.path.join(work, "acme-leads.csv")
r = subprocess.run([BIN, "export", "--config", config, "--tenant", "acme", "--out", out_csv], env=env,
                   capture_output=True, text=True)
check(r.returncode == 0 and os.path.exists(out_csv) and (os.stat(out_csv).st_mode & 0o777) == 0o600,
      "export writes an owner-only CSV: " + r.stderr.strip())
check(open(out_csv, encoding="utf-8-sig").readline().startswith("id,name,phone"), "the CSV starts with its header")
r = subprocess.run([BIN, "export", "--config", config, "--tenant", "acme", "--out", out_csv], env=env,
                   capture_output=True, text=True)
check(r.returncode == 2 and "cannot create" in r.stderr, "export never overwrites a file")
r = subprocess.run([BIN, "sweep", "--config", config, "--dry-run"], env=env, capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("dry run") and "tenant=acme" in r.stdout, "sweep --dry-run: " + r.stdout.strip())

r = subprocess.run([BIN, "audit-verify", "--config", config, "--tenant", "acme"], env=env, capture_output=True, text=True)
check(r.returncode == 0 and r.stdout.startswith("intact: "), "audit-verify: " + r.stdout.strip())

if failures:
    print(f"{len(failures)} failure(s)")
    sys.exit(1)
