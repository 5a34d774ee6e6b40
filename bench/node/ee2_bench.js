#!/usr/bin/env node
// EventEmitter2 baseline for herald's memory-transport benchmark.
//
//   node bench/node/ee2_bench.js [N]        (N defaults to 1000000)
//
// Prints exactly one line of JSON on stdout; notes go to stderr. Keys:
//   n                               events per measured phase
//   wildcard_emit_per_s             emit('order.created') with one listener on 'order.*'
//   wildcard_emit_p50_us / _p99_us  time from just before emit() to the listener's call
//   emit_async_awaited_per_s        `await emitAsync(...)` one at a time, async listener
//   emit_async_p50_us / _p99_us     time from just before emitAsync() to the listener's call
//   emit_async_roundtrip_p50_us / _p99_us   ... to the awaited promise being resolved
//   emit_async_pipelined_per_s      emitAsync with up to 256 in flight (Promise.all batches)
//
// Method: each phase runs a warm-up of N/10 events (at least 1000), then a
// throughput pass of N events with no timing inside the loop, then a latency
// pass of N events timed with process.hrtime.bigint() (every event by default;
// HERALD_EE2_SAMPLE_EVERY=k samples every k-th). Latencies include the cost of
// one hrtime call (tens of ns). The payload object is created per emit, as a
// publisher would. Everything runs on one thread (Node's event loop).
'use strict';

let EventEmitter2;
try {
  ({ EventEmitter2 } = require('eventemitter2'));
} catch (err) {
  process.stderr.write(`ee2_bench: error: eventemitter2 is not installed (${err.code || err.message}); ` +
                       `run 'npm ci' in ${__dirname}\n`);
  process.exit(1);
}

const EVENT = 'order.created';
const PATTERN = 'order.*';
const WINDOW = 256; // max in flight for the pipelined emitAsync phase

function note(msg) {
  process.stderr.write(`ee2_bench: ${msg}\n`);
}

function fail(msg) {
  note(`error: ${msg}`);
  process.exit(1);
}

function parseCount(arg, fallback, what) {
  if (arg === undefined || arg === '') return fallback;
  const n = Number(arg);
  if (!Number.isSafeInteger(n) || n <= 0) fail(`${what} must be a positive integer (got '${arg}')`);
  return n;
}

const N = parseCount(process.argv[2], 1000000, 'N');
const SAMPLE_EVERY = parseCount(process.env.HERALD_EE2_SAMPLE_EVERY, 1, 'HERALD_EE2_SAMPLE_EVERY');
const WARMUP = Math.max(1000, Math.floor(N / 10));

const now = process.hrtime.bigint;

function makePayload() {
  return { orderId: 'o-42', amount: 99.5, currency: 'EUR' };
}

function newEmitter() {
  return new EventEmitter2({ wildcard: true, delimiter: '.', maxListeners: 16 });
}

// Percentile (nearest rank on the sorted sample) in microseconds, 3 decimals.
function percentileUs(sortedNs, p) {
  if (sortedNs.length === 0) return null;
  const idx = Math.min(sortedNs.length - 1, Math.ceil(p * sortedNs.length) - 1);
  return round3(sortedNs[Math.max(0, idx)] / 1000);
}

function round3(x) {
  return Math.round(x * 1000) / 1000;
}

function perSecond(count, ns) {
  return Math.round((count * 1e9) / Number(ns));
}

function expectCount(phase, got, want) {
  if (got !== want) fail(`${phase}: listener saw ${got} events, expected ${want}`);
}

// ---------------------------------------------------------------- 1. wildcard emit

function benchWildcardEmit() {
  const em = newEmitter();
  let count = 0;
  let tCall = 0n;
  let timing = false;
  em.on(PATTERN, (payload) => {
    if (timing) tCall = now();
    if (payload.amount > 0) count++;
  });
  if (em.emit(EVENT, makePayload()) !== true) fail(`emit('${EVENT}') found no listener on '${PATTERN}'`);
  count = 0;

  for (let i = 0; i < WARMUP; i++) em.emit(EVENT, makePayload());

  count = 0;
  const t0 = now();
  for (let i = 0; i < N; i++) em.emit(EVENT, makePayload());
  const elapsed = now() - t0;
  expectCount('wildcard emit', count, N);

  const samples = new Float64Array(Math.ceil(N / SAMPLE_EVERY));
  let s = 0;
  count = 0;
  for (let i = 0; i < N; i++) {
    if (i % SAMPLE_EVERY === 0) {
      timing = true;
      const start = now();
      em.emit(EVENT, makePayload());
      samples[s++] = Number(tCall - start);
      timing = false;
    } else {
      em.emit(EVENT, makePayload());
    }
  }
  expectCount('wildcard emit (latency pass)', count, N);
  const sorted = samples.subarray(0, s).sort();
  return {
    per_s: perSecond(N, elapsed),
    p50: percentileUs(sorted, 0.5),
    p99: percentileUs(sorted, 0.99),
  };
}

// ---------------------------------------------------------------- 2. awaited emitAsync

async function benchEmitAsyncAwaited() {
  const em = newEmitter();
  let count = 0;
  let tCall = 0n;
  let timing = false;
  em.on(PATTERN, async (payload) => {
    if (timing) tCall = now();
    if (payload.amount > 0) count++;
  });

  for (let i = 0; i < WARMUP; i++) await em.emitAsync(EVENT, makePayload());

  count = 0;
  const t0 = now();
  for (let i = 0; i < N; i++) await em.emitAsync(EVENT, makePayload());
  const elapsed = now() - t0;
  expectCount('awaited emitAsync', count, N);

  const n = Math.ceil(N / SAMPLE_EVERY);
  const callNs = new Float64Array(n);
  const roundNs = new Float64Array(n);
  let s = 0;
  count = 0;
  for (let i = 0; i < N; i++) {
    if (i % SAMPLE_EVERY === 0) {
      timing = true;
      const start = now();
      await em.emitAsync(EVENT, makePayload());
      const done = now();
      timing = false;
      callNs[s] = Number(tCall - start);
      roundNs[s] = Number(done - start);
      s++;
    } else {
      await em.emitAsync(EVENT, makePayload());
    }
  }
  expectCount('awaited emitAsync (latency pass)', count, N);
  const call = callNs.subarray(0, s).sort();
  const round = roundNs.subarray(0, s).sort();
  return {
    per_s: perSecond(N, elapsed),
    p50: percentileUs(call, 0.5),
    p99: percentileUs(call, 0.99),
    rt_p50: percentileUs(round, 0.5),
    rt_p99: percentileUs(round, 0.99),
  };
}

// ---------------------------------------------------------------- 3. pipelined emitAsync

async function runPipelined(em, total) {
  const batch = new Array(WINDOW);
  let done = 0;
  while (done < total) {
    const k = Math.min(WINDOW, total - done);
    if (batch.length !== k) batch.length = k;
    for (let j = 0; j < k; j++) batch[j] = em.emitAsync(EVENT, makePayload());
    await Promise.all(batch);
    done += k;
  }
}

async function benchEmitAsyncPipelined() {
  const em = newEmitter();
  let count = 0;
  em.on(PATTERN, async (payload) => {
    if (payload.amount > 0) count++;
  });
  await runPipelined(em, WARMUP);
  count = 0;
  const t0 = now();
  await runPipelined(em, N);
  const elapsed = now() - t0;
  expectCount('pipelined emitAsync', count, N);
  return { per_s: perSecond(N, elapsed) };
}

// ---------------------------------------------------------------- main

async function main() {
  let version = 'unknown';
  try {
    version = require('eventemitter2/package.json').version;
  } catch (_) {
    // version is informational only
  }
  note(`eventemitter2 ${version}, node ${process.version}, N=${N}, warm-up ${WARMUP}, ` +
       `latency sample every ${SAMPLE_EVERY} event(s), pipeline window ${WINDOW}`);

  const w = benchWildcardEmit();
  note(`wildcard emit: ${w.per_s} ev/s, p50 ${w.p50} us, p99 ${w.p99} us`);
  const a = await benchEmitAsyncAwaited();
  note(`awaited emitAsync: ${a.per_s} ev/s, listener p50 ${a.p50} us, p99 ${a.p99} us; ` +
       `round trip p50 ${a.rt_p50} us, p99 ${a.rt_p99} us`);
  const p = await benchEmitAsyncPipelined();
  note(`pipelined emitAsync (${WINDOW} in flight): ${p.per_s} ev/s`);

  const out = {
    n: N,
    wildcard_emit_per_s: w.per_s,
    wildcard_emit_p50_us: w.p50,
    wildcard_emit_p99_us: w.p99,
    emit_async_awaited_per_s: a.per_s,
    emit_async_p50_us: a.p50,
    emit_async_p99_us: a.p99,
    emit_async_roundtrip_p50_us: a.rt_p50,
    emit_async_roundtrip_p99_us: a.rt_p99,
    emit_async_pipelined_per_s: p.per_s,
    emit_async_pipeline_window: WINDOW,
    latency_sample_every: SAMPLE_EVERY,
    eventemitter2_version: version,
    node_version: process.version,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
