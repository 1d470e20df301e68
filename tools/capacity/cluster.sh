#!/usr/bin/env bash
# Capacity on the local cluster (docs/BENCHMARKS.md, section "Platform
# capacity"): `cluster up` with REPLICAS of every service, 3 NATS nodes (the
# stream at R3), HAProxy and the system PostgreSQL on fresh databases
# (PREFIX_<svc>); `fabrika load` at RATE orders/s for PHASE through the
# ingress, the CPU of every replica read from its admin listener, and each
# database's PostgreSQL CPU per order (/proc).
#
#   tools/capacity/cluster.sh PREFIX BASEPORT REPLICAS RATE PHASE [fabrika load flags...]
#   tools/capacity/cluster.sh capc 22000 2 20 30s
#
# CLUSTER_FLAGS: more flags for `cluster up` (e.g. "-procs 0").
# The ports BASEPORT..BASEPORT+440 must be free and below Linux's ephemeral
# range (32768-60999). Needs PostgreSQL on 127.0.0.1:5432 (trust, user
# postgres) and HAProxy (`cluster up` installs it as root).
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,14p' "$0"; exit 2; }
prefix=$1 base=$2 replicas=$3 rate=$4 phase=$5; shift 5
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
cluster= analyzer=
trap 'kill $analyzer 2>/dev/null || true; [ -z "$cluster" ] || { kill -INT $cluster; wait $cluster || true; }; rm -rf "$work"' EXIT
go build -o "$work/cluster" ./cmd/cluster
go build -o "$work/fabrika" ./cmd/fabrika
"$work/cluster" up -fresh -replicas "$replicas" -db-prefix "$prefix" -port "$base" -state "$work/state" ${CLUSTER_FLAGS:-} >"$work/cluster.log" 2>&1 &
cluster=$!
# Up once it says how to open it (every replica ready), or gone.
until grep -q "Ctrl-C stops everything" "$work/cluster.log"; do
  kill -0 $cluster 2>/dev/null || { tail -20 "$work/cluster.log"; cluster=; exit 1; }
  sleep 0.5
done
# The replicas' admin listeners (cmd/cluster/topology.go: base+200+10s+r).
admin= i=0
for s in shop crm mes-calc mes-operator mes-api gateway; do
  for r in $(seq 0 $((replicas - 1))); do admin="$admin${admin:+,}$s-$r=http://127.0.0.1:$((base + 200 + 10 * i + r))"; done
  i=$((i + 1))
done
# As tools/capacity/run.sh: autovacuum's analysis on a server without it.
. tools/capacity/analyze.sh
analyze_databases "$prefix"
pg="postgres://postgres@127.0.0.1:5432"
pg0=$(pg_cpu "$prefix")
"$work/fabrika" load -url "http://127.0.0.1:$base" -nats-url "nats://127.0.0.1:$((base + 400))" -data-dir "$work/state/shop" \
  -gateway-dsn "$pg/${prefix}_gateway?sslmode=disable" -mes-api-dsn "$pg/${prefix}_mes_api?sslmode=disable" \
  -admin "$admin" -rate "$rate" -phase "$phase" "$@" | tee "$work/load.txt"
pg1=$(pg_cpu "$prefix")
acked=$(grep -oE '[0-9]+ acknowledged' "$work/load.txt" | head -1 | grep -oE '[0-9]+' || echo 0)
[ "$acked" -eq 0 ] || pg_cpu_report "$pg0" "$pg1" "$acked"
