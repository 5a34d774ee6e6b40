#!/usr/bin/env bash
# Runs the test binary rabbitmq_channel_closed (tests/reliability/rabbitmq/
# channel_closed_test.cpp) against a RabbitMQ node of its own whose
# consumer_timeout is one second: the broker then closes a consuming channel
# that holds a delivery unacked that long, while the connection lives. Set on
# the shared test broker, that timeout would cut other tests' slow handlers
# short. Own node name, ports and folder; stopped at the end.
#   rabbitmq_channel_closed_test.sh <path of rabbitmq_channel_closed>
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
binary="$1"
tmp="$(mktemp -d)"
export HERALD_STATE_DIR="$tmp" HERALD_RABBITMQ_NODE=herald-chclosed@localhost HERALD_RABBITMQ_PORT=5695 \
  HERALD_RABBITMQ_TLS_PORT=off
trap '"$repo/scripts/brokers/rabbitmq" stop >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
"$repo/scripts/brokers/rabbitmq" start
(
  eval "$("$repo/scripts/brokers/rabbitmq" env)"
  # The channel looks at its deliveries' age on each tick.
  rabbitmqctl -q -n "$HERALD_RABBITMQ_NODE" eval \
    'application:set_env(rabbit, consumer_timeout, 1000), application:set_env(rabbit, channel_tick_interval, 200).'
)
HERALD_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$HERALD_RABBITMQ_PORT/" "$binary"
