#!/usr/bin/env bash
# One capacity measurement (docs/BENCHMARKS.md, section "Platform capacity"):
# `fabrika dev` on fresh PostgreSQL databases, one per service (PREFIX_<svc>),
# with the embedded broker listening for the load's reader; `fabrika load` at
# RATE orders/s for PHASE; then the statements each database ran per
# acknowledged order (pg_stat_statements, reset before the load) and the CPU
# of each database's PostgreSQL backends per order (/proc).
#
#   tools/capacity/run.sh PREFIX BASEPORT RATE PHASE [fabrika load flags...]
#   tools/capacity/run.sh cap 28080 20 30s
#
# PROFILE=FILE: also a CPU profile of the process, 20 s from 5 s into the
# load, saved to FILE, and its split by service (go tool pprof -tags).
#
# Needs PostgreSQL on 127.0.0.1:5432 (trust, user postgres) with
# pg_stat_statements loaded (.ci/postgres.sh sets it up).
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,11p' "$0"; exit 2; }
prefix=$1 base=$2 rate=$3 phase=$4; shift 4
cd "$(dirname "$0")/../.."
. tools/capacity/analyze.sh
services="gateway shop crm mes-calc mes-operator mes-api"
for s in $services; do
  db="${prefix}_${s//-/_}"
  psql -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
  psql -d "$db" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  export "FABRIKA_$(echo "$s" | tr 'a-z-' 'A-Z_')_DSN=postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
done
admin="fabrika-dev=http://127.0.0.1:$((base + 100))" # one process: the gateway's admin listener is as good as any
work=$(mktemp -d)
analyzer=
trap 'kill $pid $analyzer 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/fabrika" ./cmd/fabrika
nats=127.0.0.1:$((base + 300))
"$work/fabrika" dev --data-dir "$work/data" --base-port "$base" --nats-listen "$nats" --trusted-proxies 127.0.0.1 >"$work/dev.log" 2>&1 &
pid=$!
for _ in $(seq 1 120); do curl -fsS "http://127.0.0.1:$((base + 100))/readyz" >/dev/null 2>&1 && break; sleep 0.5; done
for s in $services; do psql -d "${prefix}_${s//-/_}" -c "SELECT pg_stat_statements_reset()" >/dev/null; done
analyze_databases "$prefix"
if [ -n "${PROFILE:-}" ]; then
  (sleep 5; curl -fsS -H "Authorization: Bearer $(cat "$work/data/admin-token")" -o "$PROFILE" \
    "http://127.0.0.1:$((base + 100))/debug/pprof/profile?seconds=20") &
fi
pg0=$(pg_cpu "$prefix")
"$work/fabrika" load -url "http://127.0.0.1:$base" -data-dir "$work/data" -nats-url "nats://$nats" -admin "$admin" \
  -rate "$rate" -phase "$phase" "$@" | tee "$work/load.txt"
pg1=$(pg_cpu "$prefix")
acked=$(grep -oE '[0-9]+ acknowledged' "$work/load.txt" | head -1 | grep -oE '[0-9]+' || echo 0)
[ "$acked" -eq 0 ] || pg_cpu_report "$pg0" "$pg1" "$acked"
echo
echo "statements per acknowledged order ($acked), pg_stat_statements:"
total=0
for s in $services; do
  n=$(psql -d "${prefix}_${s//-/_}" -c "SELECT COALESCE(SUM(calls), 0) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()")
  total=$((total + n))
  [ "$acked" -gt 0 ] && awk -v s="$s" -v n="$n" -v a="$acked" 'BEGIN { printf "  %-13s %7.1f\n", s, n / a }'
done
[ "$acked" -gt 0 ] && awk -v n="$total" -v a="$acked" 'BEGIN { printf "  %-13s %7.1f\n", "total", n / a }'
if [ -n "${PROFILE:-}" ]; then
  echo; echo "CPU by service (profile $PROFILE):"
  go tool pprof -tags "$PROFILE" 2>/dev/null | sed -n '/service/,/^ *$/p'
fi
