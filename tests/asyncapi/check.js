#!/usr/bin/env node
// Parses the AsyncAPI document `herald asyncapi` generated with the official
// @asyncapi/parser and checks it against the event catalog it came from.
//
//   node check.js DOCUMENT SCHEMAS_DIR [--forbid TEXT]...
//
// Fails (exit 1) on any diagnostic of severity error, and when:
//   - a catalog type and version has no message, or a message's data schema
//     (the payload in binary mode, the payload's `data` in structured mode)
//     is not the catalog's schema as written;
//   - a message describes something the catalog does not hold;
//   - a catalog type is not sent on some channel, or a channel's address is
//     not where herald puts its types (RabbitMQ: the type as routing key;
//     Kafka: a topic per event family);
//   - the document's text holds a --forbid string (a password).
'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');
let Parser;
try {
  ({ Parser } = require('@asyncapi/parser'));
} catch (err) {
  console.error(`check.js: @asyncapi/parser is not installed (${err.code || err.message}): ` +
                'run `npm ci --ignore-scripts` in tests/asyncapi (scripts/test does)');
  process.exit(1);
}

const severityName = ['error', 'warning', 'info', 'hint'];

function usage() {
  console.error('usage: node check.js DOCUMENT SCHEMAS_DIR [--forbid TEXT]...');
  process.exit(2);
}

function readCatalog(dir) {
  const entries = [];
  for (const type of fs.readdirSync(dir).sort()) {
    const folder = path.join(dir, type);
    if (!fs.statSync(folder).isDirectory()) continue;
    for (const file of fs.readdirSync(folder).sort()) {
      const m = /^v([1-9][0-9]*)\.json$/.exec(file);
      if (!m) continue;
      entries.push({ type, version: Number(m[1]), schema: JSON.parse(fs.readFileSync(path.join(folder, file), 'utf8')) });
    }
  }
  return entries;
}

// The parser annotates every schema it read (x-parser-schema-id and the like).
function withoutParserKeys(value) {
  if (Array.isArray(value)) return value.map(withoutParserKeys);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) if (!k.startsWith('x-parser-')) out[k] = withoutParserKeys(v);
    return out;
  }
  return value;
}

async function main() {
  const args = process.argv.slice(2);
  const forbidden = [];
  const positional = [];
  for (let i = 0; i < args.length; ++i) {
    if (args[i] === '--forbid') {
      if (i + 1 >= args.length) usage();
      forbidden.push(args[++i]);
    } else {
      positional.push(args[i]);
    }
  }
  if (positional.length !== 2) usage();
  const [documentPath, schemasDir] = positional;
  const text = fs.readFileSync(documentPath, 'utf8');
  const problems = [];

  for (const secret of forbidden) if (secret && text.includes(secret)) problems.push('the document holds a forbidden string (a secret)');

  const parser = new Parser();
  const { document, diagnostics } = await parser.parse(text, { source: path.resolve(documentPath) });
  const counts = [0, 0, 0, 0];
  for (const d of diagnostics) {
    counts[d.severity] = (counts[d.severity] || 0) + 1;
    console.log(`${severityName[d.severity] || d.severity}: ${d.code}: ${d.message} at /${d.path.join('/')}`);
  }
  console.log(`@asyncapi/parser: ${diagnostics.length} diagnostics (${counts[0]} errors, ${counts[1]} warnings, ` +
              `${counts[2]} infos, ${counts[3]} hints)`);
  if (counts[0] > 0 || !document) {
    console.log('FAIL: the document does not parse without errors');
    process.exit(1);
  }

  const catalog = readCatalog(schemasDir);
  const messages = document.allMessages().all();
  const found = new Map();  // "type vN" -> messages
  for (const message of messages) {
    const ext = message.extensions();
    const type = ext.get('x-herald-type') && ext.get('x-herald-type').value();
    const version = ext.get('x-herald-dataversion') && ext.get('x-herald-dataversion').value();
    const entry = catalog.find((e) => e.type === type && e.version === version);
    if (!entry) {
      problems.push(`message ${message.id()} (${type} v${version}) is not in the catalog`);
      continue;
    }
    if (message.name() !== type) problems.push(`message ${message.id()}: name '${message.name()}' is not the type '${type}'`);
    const payload = withoutParserKeys(message.payload().json());
    const structured = message.contentType() === 'application/cloudevents+json';
    const data = structured ? payload.properties && payload.properties.data : payload;
    if (!util.isDeepStrictEqual(withoutParserKeys(data), entry.schema))
      problems.push(`message ${message.id()}: its data schema is not the catalog's ${type}/v${version}.json`);
    if (structured && !(payload.properties && payload.properties.type && payload.properties.type.const === type))
      problems.push(`message ${message.id()}: the envelope's type is not fixed to '${type}'`);
    const key = `${type} v${version}`;
    found.set(key, (found.get(key) || []).concat([message.id()]));
  }
  for (const e of catalog)
    if (!found.has(`${e.type} v${e.version}`)) problems.push(`catalog ${e.type} v${e.version} has no message`);

  // Channels: where herald puts each type.
  const sent = new Set();
  for (const channel of document.channels().all()) {
    const address = channel.address();
    const types = new Set(channel.messages().all().map((m) => m.extensions().get('x-herald-type').value()));
    const bindings = channel.bindings();
    if (bindings.has('amqp')) {
      const amqp = bindings.get('amqp').value();
      if (amqp.is === 'routingKey') {
        if (types.size !== 1 || !types.has(address)) problems.push(`channel ${channel.id()}: routing key '${address}' carries ${[...types]}`);
        if (!amqp.exchange || amqp.exchange.type !== 'topic' || amqp.exchange.durable !== true)
          problems.push(`channel ${channel.id()}: the exchange is not a durable topic exchange`);
      } else if (amqp.is !== 'queue' || !amqp.queue || amqp.queue.name !== address) {
        problems.push(`channel ${channel.id()}: neither a routing key nor a queue`);
      }
    } else if (bindings.has('kafka')) {
      const kafka = bindings.get('kafka').value();
      if (kafka.topic !== address) problems.push(`channel ${channel.id()}: topic binding '${kafka.topic}' is not the address '${address}'`);
      const families = new Set([...types].map((t) => t.split('.')[0]));
      if (families.size === 1 && !address.endsWith([...families][0]))
        problems.push(`channel ${channel.id()}: topic '${address}' is not the family topic of ${[...types]}`);
    } else {
      problems.push(`channel ${channel.id()} has no amqp or kafka binding`);
    }
    for (const op of channel.operations().all()) {
      const names = new Set(channel.messages().all().map((m) => m.id()));
      for (const m of op.messages().all())
        if (!names.has(m.id())) problems.push(`operation ${op.id()}: message ${m.id()} is not one of its channel's`);
      if (op.isSend()) for (const m of op.messages().all()) sent.add(m.extensions().get('x-herald-type').value());
    }
  }
  if (document.servers().all().length > 0)
    for (const e of catalog) if (!sent.has(e.type)) problems.push(`catalog type ${e.type} is sent on no channel`);
  for (const server of document.servers().all())
    if (server.host().includes('@')) problems.push(`server ${server.id()}: host '${server.host()}' holds userinfo`);

  console.log(`servers: ${document.servers().all().map((s) => `${s.id()} (${s.protocol()} ${s.host()})`).join(', ')}`);
  console.log(`channels: ${document.channels().all().map((c) => c.address()).join(', ')}`);
  console.log(`operations: ${document.operations().all().length}, messages: ${messages.length}, catalog entries: ${catalog.length}`);
  if (problems.length) {
    for (const p of problems) console.log(`FAIL: ${p}`);
    process.exit(1);
  }
  console.log('ok: the document parses and matches the catalog');
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : err);
  process.exit(1);
});
