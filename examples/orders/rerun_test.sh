#!/bin/sh
# The demo twice in one namespace on a long-lived broker, with foreign
# `order.*` events published into that namespace in between (one without an
# order_id, one posing as order 42 with a negative total, an order.paid for
# order 42): both runs must tell the same story.
#   rerun_test.sh ORDERS_DEMO HERALD_CLI URL
set -eu
demo="$1" cli="$2" url="$3"
ns="rerun-$(date +%s)-$$"
case "$url" in *\?*) sep='&' ;; *) sep='?' ;; esac
case "$url" in
  # Where the demo's --namespace puts its events (the queue expiry as the
  # demo sets it: RabbitMQ refuses to redeclare a queue with other arguments).
  amqp*) names="exchange=herald.demo.$ns&queue_prefix=herald.demo.$ns.&queue_expires=10m" ;;
  kafka*) names="topic_prefix=herald-demo.$ns." ;;
  *) echo "rerun_test: no broker in '$url'" >&2; exit 2 ;;
esac
"$demo" --url "$url" --namespace "$ns" || { echo "rerun_test: the first run failed" >&2; exit 1; }
foreign="$url$sep$names"
"$cli" publish order.created '{"note":"no order id"}' --url "$foreign"
"$cli" publish order.created '{"order_id":"42","customer":"eve","total":-1,"currency":"EUR","items":["x"]}' \
  --url "$foreign" --data-version 2 --key 42
"$cli" publish order.paid '{"order_id":"42","amount":1000}' --url "$foreign" --key 42
"$demo" --url "$url" --namespace "$ns" || { echo "rerun_test: the second run failed" >&2; exit 1; }
