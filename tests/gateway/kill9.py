#!/usr/bin/env python3
"""kill -9 under load: `heroshhi serve` takes signed WhatsApp webhooks carrying STOP from several
concurrent senders and is SIGKILLed mid-stream, several rounds; after each restart the webhooks
that got no 200 are delivered again (as WhatsApp retries), plus some that did (WhatsApp delivers at
least once). At the end every number whose STOP was answered 200 is opted out with exactly one
opt-out event (zero lost, none twice), and the audit chain verifies.

Usage: HEROSHHI_BIN=/path/to/heroshhi python3 tests/gateway/kill9.py [--rounds N] [--senders N]
(ctest sets HEROSHHI_BIN). Prints the figures recorded in tests/RELIABILITY.md.
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(os.environ["HEROSHHI_BIN"])
SECRET = "kill9-app-secret"
NUMBER_ID = "111000111"

parser = argparse.ArgumentParser()
parser.add_argument("--rounds", type=int, default=6)
parser.add_argument("--senders", type=int, default=4)
parser.add_argument("--seed", type=int, default=int(time.time()))
args = parser.parse_args()
rng = random.Random(args.seed)

class FakeGraph(http.server.BaseHTTPRequestHandler):
    """Takes the opt-out confirmations the gateway sends (they leave from its reply queue after the
    delivery is answered; an unreachable Graph API would keep that queue in network retries)."""
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        to = body.get("to", "")
        out = json.dumps({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                          "messages": [{"id": "wamid.fake.%d" % time.monotonic_ns()}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *_):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the gateway was killed mid-request: nothing to report


graph = QuietServer(("127.0.0.1", 0), FakeGraph)
threading.Thread(target=graph.serve_forever, daemon=True).start()

work = tempfile.mkdtemp(prefix="heroshhi-kill9-")
config = os.path.join(work, "gateway.json")
with open(config, "w") as f:
    # The API limit is raised only so the final check can read every number's status at once.
    json.dump({"bind": "127.0.0.1", "port": 0, "sqlite": os.path.join(work, "gw.db"), "threads": 2,
               "api_per_minute": 1000000, "graph_base_url": "http://127.0.0.1:%d" % graph.server_address[1]}, f)
env = dict(os.environ, HEROSHHI_APP_SECRET=SECRET, HEROSHHI_VERIFY_TOKEN="vt", HEROSHHI_GRAPH_TOKEN="t")


def operator(*argv):
    r = subprocess.run([BIN, *argv, "--config", config], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"heroshhi {argv[0]} failed: {r.stderr}")
    return r.stdout.strip()


operator("create-tenant", "--id", "acme", "--phone-number-id", NUMBER_ID)
api_key = operator("create-key", "--tenant", "acme", "--user", "ops", "--role", "owner")


def start():
    proc = subprocess.Popen([BIN, "serve", "--config", config], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not m:
        proc.kill()
        sys.exit("serve did not start: " + line)
    return proc, int(m.group(1))


def stop_body(n):
    wa_id = "14155%06d" % n
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "9", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": NUMBER_ID},
        "contacts": [{"profile": {"name": "X"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": "wamid.kill9.%d" % n, "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": "STOP"}}]}}]}]}, separators=(",", ":"))


bodies = {}  # number -> the exact bytes WhatsApp would redeliver


def deliver(port, n, conn_box):
    """One signed delivery; True on 200. Any failure (refused, reset, timeout) is False."""
    body = bodies[n]
    sig = "sha256=" + hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
    try:
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn_box[0].request("POST", "/webhooks/whatsapp", body=body,
                            headers={"Content-Type": "application/json", "X-Hub-Signature-256": sig})
        resp = conn_box[0].getresponse()
        resp.read()
        if resp.status != 200:
            other_statuses.append(resp.status)
        return resp.status == 200
    except (OSError, http.client.HTTPException):
        conn_box[0] = None
        return False


acked, unanswered, other_statuses = set(), set(), []
lock = threading.Lock()
next_number = [0]
attempts = [0]


def sender(port, stop_flag):
    box = [None]
    while not stop_flag.is_set():
        with lock:
            n = next_number[0]
            next_number[0] += 1
            bodies[n] = stop_body(n)
            attempts[0] += 1
        ok = deliver(port, n, box)
        with lock:
            (acked if ok else unanswered).add(n)
        if not ok:
            return  # the server is gone: this sender's round is over


kills = redelivered = duplicates_sent = 0
for round_ in range(args.rounds):
    proc, port = start()
    # WhatsApp retries what got no 200, and sometimes redelivers what did.
    box = [None]
    for n in sorted(unanswered):
        attempts[0] += 1
        redelivered += 1
        if deliver(port, n, box):
            unanswered.discard(n)
            acked.add(n)
    for n in rng.sample(sorted(acked), min(10, len(acked))):
        attempts[0] += 1
        duplicates_sent += 1
        if not deliver(port, n, box):
            sys.exit("a redelivery of an acknowledged webhook failed")
    stop_flag = threading.Event()
    threads = [threading.Thread(target=sender, args=(port, stop_flag)) for _ in range(args.senders)]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(0.5, 2.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kills += 1
    stop_flag.set()
    for t in threads:
        t.join()
    proc.stdout.close()

# The final restart: deliver what is still unanswered, then check every number.
proc, port = start()
failures = []
try:
    box = [None]
    for n in sorted(unanswered):
        attempts[0] += 1
        redelivered += 1
        if deliver(port, n, box):
            acked.add(n)
        else:
            failures.append("redelivery of %d failed after the last restart" % n)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lost = twice = 0
    for n in sorted(bodies):
        conn.request("GET", "/v1/contacts/+14155%06d/consent" % n, headers={"Authorization": "Bearer " + api_key})
        resp = conn.getresponse()
        status = json.loads(resp.read())
        if resp.status != 200:
            failures.append("status of %d: HTTP %d" % (n, resp.status))
            continue
        if n in acked and not status["opted_out"]:
            lost += 1
        if status["events"] > 1:
            twice += 1
finally:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)

verify = subprocess.run([BIN, "audit-verify", "--config", config, "--tenant", "acme"], env=env,
                        capture_output=True, text=True)
print(f"seed={args.seed} rounds={args.rounds} senders={args.senders} kills={kills} attempts={attempts[0]} "
      f"opt-outs={len(bodies)} acknowledged={len(acked)} redelivered={redelivered} "
      f"duplicates-sent={duplicates_sent} lost={lost} recorded-twice={twice} non-200-answers={len(other_statuses)}")
if lost:
    failures.append(f"{lost} acknowledged opt-outs lost")
if twice:
    failures.append(f"{twice} opt-outs recorded twice")
if other_statuses:
    failures.append("answers other than 200: " + str(sorted(set(other_statuses))))
if len(acked) != len(bodies):
    failures.append("not every opt-out was acknowledged in the end")
if kills < args.rounds or len(bodies) < 10 * args.rounds:
    failures.append("too little load to mean anything")
if verify.returncode != 0 or not verify.stdout.startswith("intact"):
    failures.append("audit-verify: " + verify.stdout + verify.stderr)
for f in failures:
    print("FAIL " + f)
shutil.rmtree(work, ignore_errors=True)
sys.exit(1 if failures else 0)
