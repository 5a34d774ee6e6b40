#!/usr/bin/env bash
# A Kafka cluster id is URL-safe base64 and begins with '-' once in 64
# draws; the broker script formats storage with such an id all the same (a
# CI run failed to start its cluster on one). Starts a broker of its own on
# ports of its own, in a folder of its own, and stops it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
export HERALD_STATE_DIR="$tmp" HERALD_KAFKA_PORT=19392 HERALD_KAFKA_CONTROLLER_PORT=19393 HERALD_KAFKA_SSL_PORT=off \
  HERALD_KAFKA_HEAP_OPTS="-Xms128m -Xmx384m"
trap '"$repo/scripts/brokers/kafka" stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
id="-S7u8QgvuaYvhU2HGigkXg"
mkdir -p "$tmp/kafka"
printf '%s\n' "$id" >"$tmp/kafka/cluster.id"
"$repo/scripts/brokers/kafka" start
grep -qx "cluster.id=$id" "$tmp/kafka/data/meta.properties" || {
  echo "kafka_cluster_id_test: storage not formatted with cluster id $id" >&2
  exit 1
}
"$repo/scripts/brokers/kafka" stop
echo "kafka_cluster_id_test: a broker formatted and started with cluster id $id"
