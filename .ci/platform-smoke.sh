#!/usr/bin/env bash
# Starts `fabrika dev` with one PostgreSQL database per service and the
# external NATS at $FABRIKA_TEST_NATS_URL, waits for every service's /readyz,
# and stops it with SIGINT: it must stop gracefully with status 0.
set -euo pipefail
cd "$(dirname "$0")/.."
services="shop crm mes-calc mes-operator mes-api gateway"
for s in $services; do
  db="fabrika_ci_${s//-/_}"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $db" >/dev/null
  var="FABRIKA_$(echo "$s" | tr 'a-z-' 'A-Z_')_DSN"
  export "$var=postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
done
work=$(mktemp -d)
go build -o "$work/fabrika" ./cmd/fabrika
"$work/fabrika" dev --data-dir "$work/data" --nats-url "$FABRIKA_TEST_NATS_URL" --base-port 18080 >"$work/log" 2>&1 &
pid=$!
ok=0
for _ in $(seq 1 120); do
  ok=1
  for port in 18180 18181 18182 18183 18184 18185; do  # the admin listeners (base port + 100)
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 || { ok=0; break; }
  done
  [ $ok = 1 ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.5
done
if [ $ok != 1 ]; then echo "platform did not become ready"; tail -50 "$work/log"; kill $pid 2>/dev/null || true; exit 1; fi
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/)
[ "$code" = 200 ] || { echo "gateway public port answered $code for /"; kill $pid; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/metrics)
[ "$code" = 404 ] || { echo "gateway exposes /metrics ($code)"; kill $pid; exit 1; }
echo "all six services ready on PostgreSQL + external NATS; the gateway serves the shop and hides /metrics"
kill -INT $pid
wait $pid
echo "stopped gracefully"
rm -rf "$work"
