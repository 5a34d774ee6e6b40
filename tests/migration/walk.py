#!/usr/bin/env python3
"""The migration walk of docs/migration.md, as a user does it.

One orders_service instance per phase (the same binary; only HERALD_CONFIG
changes), publishing continuously over many keys while its billing and
shipping groups apply every event to a ledger. At each step the next phase's
instance starts and subscribes, the previous one stops gracefully, the
targets the previous phase used are drained (`herald migrate status
--wait-drained`), and only then does the new instance publish. Dual phases
are checked with `herald migrate verify`. At the end every published event
must have been applied exactly once per group, in order per key.

  walk.py --service PATH --herald PATH [--rollback] [--dwell SECONDS]
"""

import argparse
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, "..", "..", "examples", "orders", "migration")
GROUPS = ["billing", "shipping"]
WALK = ["1-in-process", "2-outbox", "3-rabbitmq", "4-dual", "5-kafka-drain-rabbitmq", "6-kafka"]
ROLLBACK = ["6-kafka", "4-dual", "rollback-drain-kafka", "3-rabbitmq"]


def fail(message):
    print("walk: FAILED: " + message, flush=True)
    sys.exit(1)


def expand(text):
    """${NAME} and ${NAME:-default}, as herald reads its configuration files."""
    def one(m):
        name, _, default = m.group(1).partition(":-")
        value = os.environ.get(name)
        return value if value else default
    return re.sub(r"\$\{([^}]*)\}", one, text)


def phase_targets(phase):
    with open(os.path.join(CONFIGS, phase + ".json")) as f:
        config = json.load(f)
    publish, read = [], []
    for route in config["routes"]:
        p = route["publish"] if isinstance(route["publish"], list) else [route["publish"]]
        s = route.get("subscribe", p)
        publish += [expand(u) for u in p]
        read += [expand(u) for u in s]
    return publish, read


class Instance:
    def __init__(self, args, phase, workdir, hold):
        self.phase = phase
        self.log_path = os.path.join(workdir, phase + "." + uuid.uuid4().hex[:6] + ".log")
        env = dict(os.environ, HERALD_CONFIG=os.path.join(CONFIGS, phase + ".json"))
        self.log = open(self.log_path, "w")
        command = [args.service, "--ledger", args.ledger, "--rate", str(args.rate), "--keys", str(args.keys)]
        if hold:
            command.append("--hold")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.wait_for_line("ready:", 120)

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_for_line(self, text, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None:
                fail(f"{self.phase}: the service exited with {self.proc.returncode}:\n{self.output()}")
            time.sleep(0.05)  # polling a log file for a condition, with a deadline
        fail(f"{self.phase}: no '{text}' within {seconds} s:\n{self.output()}")

    def go(self):
        self.proc.send_signal(signal.SIGUSR1)
        self.wait_for_line("publishing from seq", 30)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail(f"{self.phase}: did not stop within 180 s:\n{self.output()}")
        if rc != 0:
            fail(f"{self.phase}: stopped with exit status {rc}:\n{self.output()}")
        print(f"  {self.phase}: {self.output().strip().splitlines()[-1]}", flush=True)


def herald(args, phase, *words, timeout=240, split=False):
    env = dict(os.environ, HERALD_CONFIG=os.path.join(CONFIGS, phase + ".json"))
    done = subprocess.run([args.herald, *words], env=env, capture_output=True, text=True, timeout=timeout)
    if split:
        return done.returncode, done.stdout, done.stderr
    return done.returncode, done.stdout + done.stderr


def drain(args, phase):
    """Waits until every broker target `phase` used has nothing left for the groups."""
    publish, read = phase_targets(phase)
    for url in dict.fromkeys(publish + read):
        if url.startswith("memory:"):
            continue  # in-process: drained when its instance stopped
        groups = [w for g in GROUPS for w in ("--group", g)]
        started = time.monotonic()
        # By scheme, as the runbook does: each phase has one target per scheme.
        scheme = url.split("://")[0]
        rc, out = herald(args, phase, "migrate", "status", *groups, "--wait-drained", scheme, "--timeout", "120s")
        if rc != 0:
            fail(f"{phase}: {url.split('://')[0]} was not drained:\n{out}")
        print(f"  drained {url.split('://')[0]} of {phase} in {time.monotonic() - started:.1f} s", flush=True)


def verify(args, phase, report):
    publish, _ = phase_targets(phase)
    if len(publish) < 2:
        return
    rc, out, err = herald(args, phase, "migrate", "verify", "--route", "#", "--for", "4s", "--json", split=True)
    try:
        found = json.loads(out)
        summary = {k: found.get(k) for k in ("clean", "compared", "outside_window", "lag_difference_ms")}
        for kind in ("only_old", "only_new", "mismatched", "reordered"):
            summary[kind] = (found.get(kind) or {}).get("count")
        for side in ("old", "new"):
            summary[side + "_lag_ms"] = (found.get(side) or {}).get("lag_ms")
    except ValueError:
        summary = {"output": (out + err).strip()[-2000:]}
    report["verify"].append({"phase": phase, "exit": rc, **summary})
    print(f"  verify {phase}: exit {rc}, compared {summary.get('compared')}", flush=True)
    if rc != 0:
        fail(f"{phase}: migrate verify was not clean:\n{out}{err}")


def wait_published(args, count, instance):
    """Lets the phase run until its instance published `count` more events."""
    db = sqlite3.connect(args.ledger, timeout=30)
    target = db.execute("SELECT COUNT(*) FROM published").fetchone()[0] + count
    deadline = time.monotonic() + 60 + 5 * count / args.rate
    while db.execute("SELECT COUNT(*) FROM published").fetchone()[0] < target:
        if instance.proc.poll() is not None:
            fail(f"{instance.phase}: the service exited with {instance.proc.returncode}:\n{instance.output()}")
        if time.monotonic() > deadline:
            fail(f"{instance.phase}: fewer than {count} events published in time:\n{instance.output()}")
        time.sleep(0.1)  # polling the ledger for a condition, with a deadline
    db.close()


def check_ledger(ledger, report):
    db = sqlite3.connect(ledger)
    published = dict(db.execute("SELECT id, seq FROM published"))
    report["published"] = len(published)
    problems = []
    for group in GROUPS:
        rows = db.execute("SELECT id, key, seq FROM applied WHERE grp = ? ORDER BY n", (group,)).fetchall()
        applied = {r[0] for r in rows}
        lost = set(published) - applied
        unknown = applied - set(published)
        received = db.execute("SELECT COUNT(*) FROM received WHERE grp = ?", (group,)).fetchone()[0]
        last, inversions = {}, 0
        for _, key, seq in rows:
            if key in last and seq < last[key]:
                inversions += 1
            last[key] = seq
        report["groups"][group] = {"applied": len(rows), "lost": len(lost), "unknown": len(unknown),
                                   "copies_suppressed": received - len(rows), "order_inversions": inversions}
        if lost:
            problems.append(f"{group}: {len(lost)} published events never applied (e.g. {sorted(lost)[:3]})")
        if unknown:
            problems.append(f"{group}: {len(unknown)} applied events nobody published")
        if inversions:
            problems.append(f"{group}: {inversions} events applied before an earlier event of their key")
    return problems


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--herald", required=True)
    parser.add_argument("--rollback", action="store_true")
    parser.add_argument("--dwell", type=float, default=6.0, help="seconds each phase publishes")
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--phases", help="comma-separated phases to walk instead (file names without .json)")
    args = parser.parse_args()

    amqp = urllib.parse.urlparse(os.environ.get("HERALD_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    os.environ.update({
        "RABBITMQ_HOST": amqp.hostname or "127.0.0.1", "RABBITMQ_PORT": str(amqp.port or 5672),
        "RABBITMQ_USER": amqp.username or "guest", "RABBITMQ_PASSWORD": amqp.password or "guest",
        "KAFKA_BROKERS": os.environ.get("HERALD_TEST_KAFKA_BROKERS", "127.0.0.1:9092"),
        # This run's exchange, queues, topics and groups: a second run never meets the first's.
        "ORDERS_NAMESPACE": ".walk-" + uuid.uuid4().hex[:10],
    })
    workdir = tempfile.mkdtemp(prefix="herald-walk-")
    os.environ["ORDERS_DATA"] = workdir
    args.ledger = os.path.join(workdir, "ledger.db")
    phases = args.phases.split(",") if args.phases else ROLLBACK if args.rollback else WALK
    report = {"walk": "rollback" if args.rollback else "forward", "phases": [], "verify": [], "groups": {}}
    print(f"walk: {' -> '.join(phases)} (namespace {os.environ['ORDERS_NAMESPACE']}, files in {workdir})", flush=True)

    current = None
    for phase in phases:
        started = time.monotonic()
        new = Instance(args, phase, workdir, hold=current is not None)
        if current:
            current.stop()
            drain(args, current.phase)
            new.go()
        handover = time.monotonic() - started
        wait_published(args, int(args.dwell * args.rate), new)
        verify(args, phase, report)
        report["phases"].append({"phase": phase, "handover_s": round(handover, 1),
                                 "total_s": round(time.monotonic() - started, 1)})
        print(f"  {phase}: handover {handover:.1f} s, phase {time.monotonic() - started:.1f} s", flush=True)
        current = new
    current.stop()

    problems = check_ledger(args.ledger, report)
    print("walk: " + json.dumps(report, indent=1), flush=True)
    if problems:
        fail("; ".join(problems))
    print("walk: passed: every event applied exactly once per group, in order per key", flush=True)


if __name__ == "__main__":
    main()
