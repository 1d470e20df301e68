# Sourced by run.sh and cluster.sh: psql as the scripts use it,
# analyze_databases PREFIX, which sets $analyzer, pg_cpu PREFIX and
# pg_cpu_report BEFORE AFTER ORDERS.
#
# Production servers run autovacuum, whose autoanalyze gives the planner the
# tables' sizes as they grow (and so replaces the plans cached while they
# were empty: the operators' queue was a nested loop over every order); a
# server without it (the project's bench server) gets the same from an
# ANALYZE of every service's database (PREFIX_<svc>) each 10 s of the load,
# in the background ($analyzer: its pid, empty when autovacuum is on).
psql() { command psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
analyze_databases() {
  analyzer=
  [ "$(psql -d postgres -c 'SHOW autovacuum')" != on ] || return 0
  (while sleep 10; do
    for s in gateway shop crm mes_calc mes_operator mes_api; do psql -d "$1_$s" -c "ANALYZE" 2>/dev/null || exit 0; done
  done) &
  analyzer=$!
}

# pg_cpu PREFIX prints "<database> <CPU ticks>" for each service database
# PREFIX_<svc>: the CPU its PostgreSQL backends used so far (/proc, the
# local server; 100 ticks a second). Backends that ended are not counted:
# the services' pools keep theirs for the run.
pg_cpu() {
  for p in $(pgrep -u postgres); do
    { read -r -a f <"/proc/$p/stat"; } 2>/dev/null || continue  # a backend that just ended
    db=$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | awk -v pre="$1_" '{for (i = 1; i <= NF; i++) if (index($i, pre) == 1) { print $i; exit }}')
    if [ -n "$db" ]; then echo "$db $((f[13] + f[14]))"; fi
  done | awk '{t[$1] += $2} END {for (d in t) print d, t[d]}' | sort
}

# pg_cpu_report BEFORE AFTER ORDERS prints each database's CPU-ms per order
# between two pg_cpu readings.
pg_cpu_report() {
  echo
  echo "PostgreSQL CPU-ms per acknowledged order ($3), each database's backends over the whole load command (its set-up included):"
  join -a 2 -e 0 -o 0,1.2,2.2 <(echo "$1") <(echo "$2") |
    awk -v a="$3" '{ms = ($3 - $2) * 10 / a; t += ms; printf "  %-22s %7.2f\n", $1, ms} END {printf "  %-22s %7.2f\n", "total", t}'
}
