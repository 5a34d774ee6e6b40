#!/usr/bin/env bash
# The orders demo with --webhook: every order.after.create of the run reaches
# an HTTP endpoint (tests/integration/webhooks/receiver.py), signed (checked
# by the official standardwebhooks package) and in order per order.
#   webhook_demo.sh <orders_demo> <python of the webhooks venv> <receiver.py> [demo args...]
set -euo pipefail
demo="$1" python="$2" receiver="$3"
shift 3
secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
out=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$out"' EXIT
"$python" "$receiver" "$secret" --standardwebhooks > "$out" &
pid=$!
for _ in $(seq 100); do grep -q '^port ' "$out" && break; sleep 0.1; done  # the receiver's first line: its port
port=$(sed -n 's/^port //p' "$out")
[[ -n "$port" ]] || { echo "webhook_demo: the receiver did not start" >&2; exit 1; }
HERALD_DEMO_WEBHOOK_SECRET="$secret" "$demo" "$@" --webhook "http://127.0.0.1:$port/slack/orders"
accepted=$(grep -c '"type": "order.after.create"' "$out" || true)
echo "webhook_demo: the endpoint accepted $accepted signed order.after.create events"
[[ "$accepted" -ge 2 ]]
