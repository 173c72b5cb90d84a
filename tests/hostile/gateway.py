"""A real `heroshhi serve` on loopback for the hostile-input catalogue, with the helpers the runner
needs: tenants and keys made with the operator commands, HTTP calls (http.client) and raw socket
exchanges, webhook signing, and a digest of the stored state read straight from the SQLite file.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import tempfile
import time

APP_SECRET = "hostile-app-secret"
VERIFY_TOKEN = "hostile-verify-token"
ROLES = ("sales", "manager", "admin", "owner")  # least to most privileged
# Tables whose rows are appended by every authorized or refused call (the audit trail records
# refusals too): not part of "stored data unchanged". The audit chain is verified instead.
AUDIT_TABLES = ("audit_entries", "audit_chains")


def read_until(s, deadline):
    """Reads what the server sends until it closes (or resets) or `deadline` (time.time()) passes:
    (bytes received, whether it was closed)."""
    received = b""
    while time.time() < deadline:
        s.settimeout(max(0.1, deadline - time.time()))
        try:
            part = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            return received, True
        if not part:
            return received, True
        received += part
    return received, False


class Gateway:
    def __init__(self, binary, tenants):
        self.binary = binary
        self.work = tempfile.mkdtemp(prefix="heroshhi-hostile-")
        self.db = os.path.join(self.work, "gw.db")
        self.config = os.path.join(self.work, "gateway.json")
        with open(self.config, "w") as f:
            # Rate limits high enough that the catalogue never meets them (the load test owns those);
            # the Graph API points at a closed loopback port so no send ever leaves the machine.
            json.dump({"bind": "127.0.0.1", "port": 0, "sqlite": self.db, "threads": 4,
                       "graph_base_url": "http://127.0.0.1:9", "graph_token": "none",
                       "auth_per_minute": 1000000, "api_per_minute": 1000000,
                       "webhook_per_minute": 1000000}, f)
        self.env = dict(os.environ, HEROSHHI_APP_SECRET=APP_SECRET, HEROSHHI_VERIFY_TOKEN=VERIFY_TOKEN)
        self.keys = {}          # "acme.owner" -> token
        self.integrations = {}  # tenant -> (id, secret)
        self.number_ids = {}    # tenant -> WhatsApp phone number id
        for i, tenant in enumerate(tenants):
            number_id = str(100000000000001 + i)
            self.operator("create-tenant", "--id", tenant, "--phone-number-id", number_id)
            self.number_ids[tenant] = number_id
            for role in ROLES:
                user = {"sales": "sam", "manager": "maria", "admin": "adam", "owner": "olga"}[role]
                args = ["create-key", "--tenant", tenant, "--user", user, "--role", role]
                if role in ("sales", "manager"):
                    args += ["--team", "north"]
                self.keys[f"{tenant}.{role}"] = self.operator(*args).strip()
            out = self.operator("create-integration", "--tenant", tenant, "--source", "integration")
            m = re.search(r"/webhooks/forms/(\S+)\nsecret (\S+)", out)
            self.integrations[tenant] = (m.group(1), m.group(2))
        # The access log goes to a file: a pipe nobody drains would fill and block the server.
        self.access_log = os.path.join(self.work, "access.log")
        self.proc = subprocess.Popen([binary, "serve", "--config", self.config], env=self.env,
                                     stdout=subprocess.PIPE, stderr=open(self.access_log, "w"), text=True)
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and self.port is None:
            line = self.proc.stdout.readline()
            if not line:
                break
            if m := re.search(r"listening on http://127\.0\.0\.1:(\d+)", line):
                self.port = int(m.group(1))
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("the gateway did not start: " + open(self.access_log).read())

    def operator(self, *args):
        r = subprocess.run([self.binary, args[0], "--config", self.config, *args[1:]], env=self.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"heroshhi {' '.join(args)}: {r.stderr}")
        return r.stdout

    def export_csv(self, tenant):
        """The operator's CSV export of a tenant's leads (heroshhi export --out -)."""
        r = subprocess.run([self.binary, "export", "--config", self.config, "--tenant", tenant, "--out", "-"],
                           env=self.env, capture_output=True)
        return r.returncode, r.stdout

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
        return self.proc.returncode

    # --- HTTP -----------------------------------------------------------------------------------

    def call(self, method, path, body=None, headers=None, key=None, timeout=20):
        """One request on a fresh connection: (status, headers with lower-case names, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json"}
        if key is not None:
            h["Authorization"] = "Bearer " + self.keys.get(key, key)
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for k, v in h.items():
                conn.putheader(k, v)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            try:
                conn.endheaders(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server answered (413) and closed before the whole body was sent
            try:
                resp = conn.getresponse()
            except (ConnectionResetError, http.client.RemoteDisconnected):
                return 0, {}, b""
            except socket.timeout:
                return 0, {}, b"(no answer in time)"
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()

    def raw(self, payload, chunks=None, read_timeout=15):
        """Sends raw bytes (or `chunks`: [(bytes, delay_s)]) and reads until the server closes or
        `read_timeout`: returns (every byte received, whether the server closed the connection)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=read_timeout)
        received = b""
        closed = False
        try:
            try:
                for data, delay in (chunks or [(payload, 0)]):
                    if delay:
                        time.sleep(delay)
                    s.sendall(data)
                s.shutdown(socket.SHUT_WR) if chunks is None else None
            except (BrokenPipeError, ConnectionResetError):
                pass
            more, closed = read_until(s, time.time() + read_timeout)
            received += more
        finally:
            s.close()
        return received, closed

    def trickle(self, chunks, until_s):
        """Sends [(bytes, delay_s)] one after another while the server keeps the connection, then
        reads; gives up `until_s` seconds after the start: (bytes received, whether it was closed)."""
        start = time.time()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=until_s)
        received, closed = b"", False
        try:
            for data, delay in chunks:
                if delay:
                    time.sleep(delay)
                if time.time() - start > until_s:
                    break
                try:
                    if data:
                        s.sendall(data)
                    else:
                        # Nothing to send: notice a close by the server without blocking.
                        s.setblocking(False)
                        try:
                            part = s.recv(65536)
                            if part == b"":
                                closed = True
                                break
                            received += part
                        except BlockingIOError:
                            pass
                        finally:
                            s.setblocking(True)
                            s.settimeout(until_s)
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
            if not closed:
                more, closed = read_until(s, start + until_s)
                received += more
        finally:
            s.close()
        return received, closed

    # --- signatures -----------------------------------------------------------------------------

    @staticmethod
    def sign(secret, body):
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")
        return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    # --- stored state ---------------------------------------------------------------------------

    def snapshot(self, tenant=None):
        """table -> SHA-256 of its rows in a stable order (only `tenant`'s rows when given), audit
        tables excepted. Read through a separate read-only connection, as any process could."""
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            out = {}
            for t in tables:
                if t in AUDIT_TABLES or t.startswith("sqlite_"):
                    continue
                cols = [r[1] for r in db.execute(f"PRAGMA table_info({t})")]
                where, args = "", ()
                if tenant is not None:
                    if "tenant" in cols:
                        where, args = " WHERE tenant = ?", (tenant,)
                    elif t == "gateway_tenants":
                        where, args = " WHERE id = ?", (tenant,)
                    else:
                        continue  # not a tenant's table
                rows = db.execute(f"SELECT * FROM {t}{where}", args).fetchall()
                digest = hashlib.sha256()
                for row in sorted(repr(r) for r in rows):
                    digest.update(row.encode("utf-8", "surrogateescape") + b"\n")
                out[t] = (len(rows), digest.hexdigest()[:16])
            return out
        finally:
            db.close()

    def rows(self, sql, args=()):
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()


def snapshot_diff(before, after):
    return sorted(t for t in set(before) | set(after) if before.get(t) != after.get(t))


def parse_raw_responses(data):
    """The HTTP/1.1 responses in a raw byte stream: [(status, headers, body)]."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
        if not m:
            break
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "0"))
        out.append((int(m.group(1)), headers, rest[:n]))
        data = rest[n:]
    return out


def error_code(body):
    try:
        return json.loads(body)["error"]["code"]
    except Exception:
        return None
