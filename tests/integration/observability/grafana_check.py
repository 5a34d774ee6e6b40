#!/usr/bin/env python3
"""docker/compose.yaml's observability files against what herald exports.

  - the Grafana dashboard (docker/grafana/dashboards/herald.json) parses;
  - every herald_* series its PromQL names is exported by a running admin
    endpoint (dashboard_service's /metrics), and every label it matches on or
    groups by is one those series carry;
  - Debian's Prometheus server accepts every expression (an instant query on
    a server started here with nothing to scrape: a syntax or type error
    answers bad_data);
  - promtool accepts docker/prometheus/prometheus.yml.

  grafana_check.py --dashboard herald.json --scrape-config prometheus.yml --service dashboard_service
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

# Labels a series may carry without the sample showing them: Prometheus adds
# job and instance at scrape time, histograms have le, and the outbox gauges
# get target only with dual publish (docs/observability.md).
EXTRA_LABELS = {"job", "instance", "le", "target"}


def fail(message):
    sys.exit("grafana_check: " + message)


def expressions(dashboard):
    """(panel title, expr) of every query, rows and nested panels included."""
    out = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if "expr" in target:
                    out.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    return out


def exported(metrics_text):
    """{series name: set of label names} of a /metrics text."""
    series = {}
    for line in metrics_text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$", line)
        if not m:
            fail("unreadable /metrics line: " + line)
        series.setdefault(m.group(1), set()).update(re.findall(r'(\w+)="', m.group(2) or ""))
    return series


def wait_for(what, check, seconds=30):
    end = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            fail("gave up waiting for " + what)
        time.sleep(0.1)  # polling a server that is starting, with a deadline


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--dashboard", required=True)
    args.add_argument("--scrape-config", required=True)
    args.add_argument("--service", required=True)
    options = args.parse_args()

    with open(options.dashboard) as f:
        dashboard = json.load(f)
    queries = expressions(dashboard)
    if len(queries) < 10:
        fail("expected the built-in page's panels, found %d queries" % len(queries))
    if {p.get("datasource", {}).get("uid") for p in dashboard["panels"] if p["type"] != "row"} != {"herald-prometheus"}:
        fail("every panel should use the provisioned data source herald-prometheus")

    prometheus = shutil.which("prometheus") or fail("prometheus is missing: scripts/install-deps --test installs it")
    promtool = shutil.which("promtool") or fail("promtool is missing: scripts/install-deps --test installs it")
    lint = subprocess.run([promtool, "check", "config", options.scrape_config], capture_output=True, text=True)
    if lint.returncode != 0:
        fail("promtool check config %s:\n%s%s" % (options.scrape_config, lint.stdout, lint.stderr))

    work = tempfile.mkdtemp(prefix="herald-grafana-check-")
    service = subprocess.Popen([options.service, "--store", "sqlite://" + os.path.join(work, "events.db")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    server = None
    try:
        port = None
        for line in service.stdout:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = m.group(1)
            if line.strip() == "ready":
                break
        if not port:
            fail("dashboard_service did not start")
        status, text = get("http://127.0.0.1:%s/metrics" % port)
        if status != 200:
            fail("/metrics answered %s" % status)
        series = exported(text)

        for title, expr in queries:
            names = set(re.findall(r"\b(herald_[a-z0-9_]+)\b", expr))
            if not names:
                fail("panel %r queries no herald series: %s" % (title, expr))
            for name in names:
                if name not in series:
                    fail("panel %r uses %s, which herald does not export (%s)" % (title, name, expr))
            known = set().union(*(series[n] for n in names)) | EXTRA_LABELS
            used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr))
            for grouping in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
                used.update(label.strip() for label in grouping.split(",") if label.strip())
            unknown = used - known
            if unknown:
                fail("panel %r uses labels %s that %s do not carry" % (title, sorted(unknown), sorted(names)))

        prom_port = free_port()
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
        server = subprocess.Popen([prometheus, "--config.file=" + config, "--storage.tsdb.path=" + os.path.join(work, "data"),
                                   "--web.listen-address=127.0.0.1:%d" % prom_port, "--log.level=warn"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = "http://127.0.0.1:%d" % prom_port
        wait_for("Prometheus on " + base, lambda: get(base + "/-/ready")[0] == 200)
        for title, expr in queries:
            promql = expr.replace("$job", ".*")  # Grafana's variable, as "All" expands it
            status, body = get(base + "/api/v1/query?query=" + urllib.parse.quote(promql))
            answer = json.loads(body) if body else {}
            if status != 200 or answer.get("status") != "success":
                fail("Prometheus refuses panel %r: %s\n  %s" % (title, answer.get("error", status), promql))
        print("grafana_check: %d queries in %d panels use herald's exported series and parse in Prometheus"
              % (len(queries), len([p for p in dashboard["panels"] if p["type"] != "row"])))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        service.stdin.close()
        service.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
