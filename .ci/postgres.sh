#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for
# user postgres: starts the installed cluster, or installs one from Debian.
set -euo pipefail
ready() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; }
# pg_stat_statements loaded: mes-operator's statement-count test and the capacity
# runs (docs/BENCHMARKS.md) read it; a restart is needed to load it.
preload() {
  ready || return 1
  psql -h 127.0.0.1 -U postgres -d postgres -tAc 'show shared_preload_libraries' | grep -q pg_stat_statements && return 0
  psql -h 127.0.0.1 -U postgres -d postgres -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main restart
  for _ in $(seq 1 60); do ready && return 0; sleep 0.5; done
  return 1
}
preload && exit 0
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "installing PostgreSQL from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
if [ -z "$ver" ]; then
  ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
  pg_createcluster "$ver" main >/dev/null
fi
conf=/etc/postgresql/$ver/main
# trust on loopback, as the test DSNs expect
if ! grep -q 'fabrika-ci' "$conf/pg_hba.conf"; then
  sed -i '1i host all all 127.0.0.1/32 trust # fabrika-ci\nhost all all ::1/128 trust # fabrika-ci\nlocal all all trust # fabrika-ci' "$conf/pg_hba.conf"
fi
grep -q "^listen_addresses" "$conf/postgresql.conf" || echo "listen_addresses = '127.0.0.1'" >> "$conf/postgresql.conf"
pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
for _ in $(seq 1 60); do ready && break; sleep 0.5; done
preload && exit 0
echo "PostgreSQL did not come up with pg_stat_statements"; exit 1
