#!/usr/bin/env python3
"""A tiny OTLP/HTTP JSON receiver for herald's exporter test.

Listens on 127.0.0.1 (an ephemeral port, printed as "port N" on the first
line), parses every POST /v1/traces with the official OpenTelemetry protobuf
definitions (opentelemetry-proto: json_format.Parse into
ExportTraceServiceRequest, unknown fields refused) and appends each span it
parsed as one JSON line to the file given as the first argument. A request
that does not parse is answered 400 and noted in the file as {"error": ...}.
With "-" as the file it only answers 200 (a fast sink for the benchmarks).
Runs until its stdin closes (the test ends it)."""

import base64
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

OUT = sys.argv[1]
LOCK = threading.Lock()


def hex_ids_to_base64(node):
    # OTLP/JSON writes trace and span ids as hex (the OTLP spec); protobuf's
    # JSON mapping reads bytes as base64. The one documented difference.
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if key in ("traceId", "spanId", "parentSpanId") and isinstance(value, str):
                node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                hex_ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            hex_ids_to_base64(item)


def value_of(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def write(record):
    with LOCK, open(OUT, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if OUT == "-":
            self.send_response(200)
            self.end_headers()
            return
        try:
            if self.path != "/v1/traces":
                raise ValueError("unexpected path " + self.path)
            if self.headers.get("Content-Type") != "application/json":
                raise ValueError("content type " + str(self.headers.get("Content-Type")))
            doc = json.loads(body)
            hex_ids_to_base64(doc)
            request = ExportTraceServiceRequest()
            json_format.Parse(json.dumps(doc), request, ignore_unknown_fields=False)
        except Exception as e:  # the test reads the reason
            write({"error": repr(e)})
            self.send_response(400)
            self.end_headers()
            return
        for rs in request.resource_spans:
            resource = {a.key: value_of(a.value) for a in rs.resource.attributes}
            for ss in rs.scope_spans:
                for s in ss.spans:
                    write({
                        "service": resource.get("service.name"),
                        "scope": ss.scope.name,
                        "name": s.name,
                        "kind": s.kind,
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(),
                        "start": s.start_time_unix_nano,
                        "end": s.end_time_unix_nano,
                        "status": s.status.code,
                        "status_message": s.status.message,
                        "attributes": {a.key: value_of(a.value) for a in s.attributes},
                        "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in s.links],
                    })
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print("port", server.server_address[1], flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
sys.stdin.read()
server.shutdown()
