#!/usr/bin/env python3
"""A small ticket system for hotline's tests: a real HTTP server (Python's
standard library, written apart from hotline) that receives call events.

    ticket_receiver.py PORT SECRET LOG [PLAN]

It checks every request's signature (X-Hotline-Signature = "v1=" +
HMAC-SHA256(SECRET, "<X-Hotline-Timestamp>.<raw body>")), answers 401 when it
is wrong, and applies each event once per Idempotency-Key: a repeated key
gets the first answer again and is logged as a duplicate. PLAN is a
comma-separated list of what to do with the first requests, one word each:
"500" (answer 500), "sleep" (apply the event, then answer after 3 s,
beyond hotline's timeout: hotline will send it again),
"drop" (close the connection without answering); after the plan, requests
are accepted with 201 and {"ticket_id": "T-<call id>"}. Every request is
appended to LOG as one JSON line: {"key", "type", "call", "status",
"signature_ok", "duplicate"}, and accepted events also carry "payload".
"""
import hashlib
import io
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, SECRET, LOG = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
PLAN = [p for p in (sys.argv[4] if len(sys.argv) > 4 else "").split(",") if p]
lock = threading.Lock()
seen = {}  # Idempotency-Key -> first answer body


def log(entry):
    with lock, open(LOG, "a") as f:
        f.write(json.dumps(entry) + "\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        key = self.headers.get("Idempotency-Key", "")
        ts = self.headers.get("X-Hotline-Timestamp", "")
        want = "v1=" + hmac.new(SECRET, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        sig_ok = hmac.compare_digest(want, self.headers.get("X-Hotline-Signature", ""))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        entry = {"key": key, "type": payload.get("type"), "call": payload.get("call", {}).get("id"), "signature_ok": sig_ok}
        if not sig_ok:
            return self.answer(401, b'{"error": "bad signature"}', entry)
        with lock:
            step = PLAN.pop(0) if PLAN else None
        if step == "500":
            return self.answer(500, b'{"error": "ticket database busy"}', entry)
        if step == "drop":
            entry["status"] = "dropped"
            log(entry)
            self.close_connection = True
            self.connection.close()
            self.wfile = io.BytesIO()  # nothing more goes to the closed socket
            return
        with lock:
            duplicate = key in seen
            if not duplicate:
                # A call that already belongs to a ticket (a callback made
                # for it) keeps it; any other call opens "T-<call id>".
                ticket = (payload.get("call") or {}).get("ticket_id") or "T-" + str(entry["call"])
                seen[key] = json.dumps({"ticket_id": ticket}).encode()
            answer = seen[key]
        entry["duplicate"] = duplicate
        if not duplicate:
            entry["payload"] = payload
        if step == "sleep":
            time.sleep(3)
        self.answer(201, answer, entry)

    def answer(self, status, body, entry):
        entry["status"] = status
        log(entry)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up waiting (the "sleep" step): the answer is lost


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
