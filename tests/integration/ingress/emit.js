// Sends CloudEvents to herald's ingress (POST /v1/events) with the official
// CloudEvents JavaScript SDK: its HTTP binding serialises each event
// (emitterFor with Mode.BINARY / Mode.STRUCTURED; a batch is the SDK's
// events as a JSON array, which the SDK reads but has no emitter for). The
// transport function is ours only to see the status code, which the SDK's
// httpTransport does not return.
//
//   node emit.js URL TOKEN SECRET PREFIX
//
// Prints one JSON line per request: {"case", "status", "retryAfter", "body"}.
// The ids it sends are PREFIX-binary, PREFIX-structured, PREFIX-batch-0..2
// and PREFIX-signed (source /partners/acme); the C++ side checks what the
// herald handler received.
"use strict";
const http = require("http");
const crypto = require("crypto");
const { CloudEvent, HTTP, Mode, emitterFor } = require("cloudevents");

const [url, token, secret, prefix] = process.argv.slice(2);
const source = "/partners/acme";
const bearer = { Authorization: `Bearer ${token}` };

function send(message, options) {
  return new Promise((resolve, reject) => {
    const headers = { ...message.headers, ...((options && options.headers) || {}) };
    const req = http.request(url, { method: "POST", headers }, (res) => {
      let body = "";
      res.setEncoding("utf-8");
      res.on("data", (chunk) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode, retryAfter: res.headers["retry-after"] || null, body }));
    });
    req.on("error", reject);
    req.end(message.body);
  });
}

const binary = emitterFor(send, { binding: HTTP, mode: Mode.BINARY });
const structured = emitterFor(send, { binding: HTTP, mode: Mode.STRUCTURED });

function event(id, n, extra = {}) {
  return new CloudEvent({
    id: `${prefix}-${id}`,
    type: "order.created",
    source,
    data: { n, note: "café 100%" },
    partitionkey: `order-${n}`,
    ...extra,
  });
}

// Standard Webhooks, computed here with node's crypto: an implementation
// independent of herald's signer.
function signed(message, id) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const signature = crypto.createHmac("sha256", key).update(`${id}.${timestamp}.${message.body}`).digest("base64");
  return { ...message.headers, "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1,${signature}` };
}

async function main() {
  const results = [];
  const record = async (name, promise) => {
    const r = await promise;
    process.stdout.write(JSON.stringify({ case: name, ...r }) + "\n");
    results.push(r);
  };
  const first = event("binary", 1);
  await record("binary", binary(first, { headers: bearer }));
  await record("structured", structured(event("structured", 2, { subject: "order/2" }), { headers: bearer }));
  const batch = [0, 1, 2].map((i) => event(`batch-${i}`, 10 + i));
  await record(
    "batch",
    send({ headers: { "content-type": "application/cloudevents-batch+json" }, body: JSON.stringify(batch) }, { headers: bearer }),
  );
  // The same id from the same source again, in the other mode: acknowledged, not published twice.
  await record("duplicate", structured(first, { headers: bearer }));
  await record("duplicate-in-batch", send(
    { headers: { "content-type": "application/cloudevents-batch+json" }, body: JSON.stringify([batch[1]]) },
    { headers: bearer },
  ));
  // Malformed: not JSON, an event without a type in a batch, binary without ce-id.
  await record("malformed-json", send({ headers: { "content-type": "application/cloudevents+json" }, body: "{\"specversion\": \"1.0\", " }, { headers: bearer }));
  const noType = { ...event("batch-bad", 20).toJSON() };
  delete noType.type;
  await record("malformed-batch", send(
    { headers: { "content-type": "application/cloudevents-batch+json" }, body: JSON.stringify([event("batch-ok", 21), noType]) },
    { headers: bearer },
  ));
  const noId = HTTP.binary(event("no-id", 22));
  delete noId.headers["ce-id"];
  await record("malformed-binary", send(noId, { headers: bearer }));
  await record("unauthenticated", binary(event("unauthenticated", 23)));
  const wrong = HTTP.binary(event("wrong-token", 24));
  await record("wrong-token", send(wrong, { headers: { Authorization: "Bearer not-the-token" } }));
  // Over the ingress's body limit (the test sets 64 KiB): 413.
  const big = HTTP.binary(new CloudEvent({ id: `${prefix}-big`, type: "order.created", source, data: { pad: "x".repeat(100 * 1024) } }));
  await record("oversize", send(big, { headers: bearer }));
  // Signed per Standard Webhooks instead of a bearer token.
  const s = HTTP.binary(event("signed", 3));
  await record("signed", send({ headers: signed(s, `msg-${prefix}`), body: s.body }));
  const forged = HTTP.binary(event("forged", 25));
  const forgedHeaders = signed(forged, `msg-${prefix}-f`);
  await record("forged", send({ headers: forgedHeaders, body: forged.body.replace("25", "26") }));
}

// INGRESS_BENCH=N: instead of the cases, N structured events one request
// each, then N in batches of 100, over one kept-alive connection at a time.
async function bench(n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const post = (headers, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, { method: "POST", agent, headers: { ...headers, ...bearer } }, (res) => {
        res.resume();
        res.on("end", () => (res.statusCode < 300 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
      });
      req.on("error", reject);
      req.end(body);
    });
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const m = HTTP.structured(event(`bench-${i}`, i));
    await post(m.headers, m.body);
  }
  const single = Number(process.hrtime.bigint() - t) / 1e9;
  t = process.hrtime.bigint();
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + 100); k++) batch.push(event(`bench-batch-${k}`, k));
    await post({ "content-type": "application/cloudevents-batch+json" }, JSON.stringify(batch));
  }
  const batched = Number(process.hrtime.bigint() - t) / 1e9;
  process.stdout.write(JSON.stringify({ case: "bench", events: n, singlePerSecond: Math.round(n / single), batchedPerSecond: Math.round(n / batched) }) + "\n");
}

(process.env.INGRESS_BENCH ? bench(Number(process.env.INGRESS_BENCH)) : main()).catch((err) => {
  process.stderr.write(`emit: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
