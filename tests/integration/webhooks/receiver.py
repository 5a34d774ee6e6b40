#!/usr/bin/env python3
"""A webhook endpoint for herald's tests, on 127.0.0.1 (port chosen by the OS).

Checks every request's Standard Webhooks signature with its own HMAC (not
herald's code), answers per the rules below, and prints one JSON line per
request it accepted: {"id", "type", "key", "mode", "attempt", "waited"} (waited:
seconds since the event's first try). The first line it prints is "port <n>".

  receiver.py SECRET [--port N] [--fail-first N] [--fail-status S] [--retry-after S]
                     [--stall-first N] [--refuse-type TYPE] [--delay-ms MS] [--tls CERT KEY]
                     [--standardwebhooks]
    --fail-first N    answer --fail-status (503) with Retry-After (1) to the first N tries of each event id
    --stall-first N   answer the first N tries of each event id only after 3 s (the sender's timeout)
    --refuse-type T   answer 422 to events of type T (never retriable)
    --delay-ms MS     wait before answering (a slow endpoint)
    --tls CERT KEY    serve https with this certificate
    --standardwebhooks  also verify every signature with the official `standardwebhooks`
                      package (PyPI), refusing the request when it disagrees
"""
import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
key = None
tries = {}
first_try = {}
lock = threading.Lock()
official = None


def signature_ok(headers, body):
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature", "")
    if not msg_id or not stamp:
        return False
    if abs(time.time() - int(stamp)) > 300:
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
    ours = any(part.split(",", 1)[-1] == expected for part in given.split(" ") if part.startswith("v1,"))
    if ours and official is not None:
        webhook, refused = official
        try:
            webhook.verify(body, {"webhook-id": msg_id, "webhook-timestamp": stamp, "webhook-signature": given})
        except refused:
            return False
        except ValueError:
            pass  # verified; the package then parses the body as JSON, which binary-mode data need not be
    return ours


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # quiet: the test reads stdout
        pass

    def answer(self, status, text="", extra=None):
        body = text.encode()
        self.send_response(status)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if not signature_ok(self.headers, body):
            return self.answer(401, "bad signature")
        ctype = self.headers.get("content-type", "")
        if ctype.startswith("application/cloudevents+json"):
            event = json.loads(body)
            mode, event_id, event_type, key_ = "structured", event["id"], event["type"], event.get("partitionkey", "")
        else:
            mode = "binary"
            event_id, event_type = self.headers.get("ce-id"), self.headers.get("ce-type")
            key_ = self.headers.get("ce-partitionkey", "")
            if not event_id or not event_type or self.headers.get("ce-specversion") != "1.0":
                return self.answer(400, "not a binary-mode CloudEvent")
            json.loads(body)  # the data arrived as the JSON it was
        if args.delay_ms:
            time.sleep(args.delay_ms / 1000)
        with lock:
            tries[event_id] = tries.get(event_id, 0) + 1
            attempt = tries[event_id]
            first_try.setdefault(event_id, time.monotonic())
            waited = time.monotonic() - first_try[event_id]
        if event_type == args.refuse_type:
            return self.answer(422, "type refused here")
        if attempt <= args.fail_first:
            return self.answer(args.fail_status, "busy", {"Retry-After": str(args.retry_after)})
        if attempt <= args.stall_first:
            time.sleep(3)
            return self.answer(204)  # too late: the sender has given up on this try
        line = json.dumps({"id": event_id, "type": event_type, "key": key_, "mode": mode, "attempt": attempt,
                           "waited": round(waited, 3)})
        with lock:  # one whole line at a time: requests are answered on several threads
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        self.answer(204)


def main():
    global args, key, official
    p = argparse.ArgumentParser()
    p.add_argument("secret")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-status", type=int, default=503)
    p.add_argument("--retry-after", type=int, default=1)
    p.add_argument("--stall-first", type=int, default=0)
    p.add_argument("--standardwebhooks", action="store_true")
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--refuse-type", default="")
    p.add_argument("--delay-ms", type=int, default=0)
    args = p.parse_args()
    key = base64.b64decode(args.secret.removeprefix("whsec_"))
    if args.standardwebhooks:
        # A missing package fails the test, never skips it.
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError
        official = (Webhook(args.secret), WebhookVerificationError)
    ThreadingHTTPServer.allow_reuse_address = True  # restarted on the same port mid-stream
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*args.tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"port {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
