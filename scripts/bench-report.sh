#!/usr/bin/env bash
# hotline report benchmark: a city's year of calls (500,000 by default)
# seeded into SQLite and PostgreSQL, then `hotline report` timed by line,
# queue, seat and interval over the whole year. Method and results:
# BENCHMARKS.md, "Reports".
#
# Usage: scripts/bench-report.sh [options]
#   --calls N       calls to seed (default 500000)
#   --days D        over this many days, ending 2026-11-25 +08:00 (default 365)
#   --runs R        timed runs of each report (default 5); the first run
#                   also warms the OS cache
#   --pg URL        PostgreSQL server to use (default $HOTLINE_TEST_PG_URL,
#                   else postgres://postgres@127.0.0.1:5432/test); a fresh
#                   database hotline_bench_<pid> is created there and dropped
#   --no-pg         SQLite only
#   --no-build      use the existing release binaries
#   --out DIR       keep the SQLite file, configs and timings in DIR
#   -h, --help      this text
#
# What it does: builds hotline and hotline-callgen (cargo build --release
# --locked --bins); seeds a fresh SQLite file and a fresh PostgreSQL
# database with hotline-callgen (same seed, same calls; PostgreSQL is
# ANALYZEd as autovacuum would, SQLite is not); writes a config naming
# that database (60 citizen seats, 10 emergency seats, [reports] +08:00)
# and runs `hotline report --format json` R times for each grouping,
# printing the wall time of each run (process start, connect, migration
# check, query, JSON) and the query time hotline logs ("report computed").
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
calls=500000 days=365 runs=5 build=1 use_pg=1 out=""
pg=${HOTLINE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
while [ $# -gt 0 ]; do
  case "$1" in
    --calls) calls=$2; shift 2 ;;
    --days) days=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --pg) pg=$2; shift 2 ;;
    --no-pg) use_pg=0; shift ;;
    --no-build) build=0; shift ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  (cd "$root" && cargo build --release --locked --bins)
fi
hotline=$target/release/hotline
callgen=$target/release/hotline-callgen
for b in "$hotline" "$callgen"; do
  [ -x "$b" ] || { echo "$b is missing: build it (drop --no-build)" >&2; exit 1; }
done
if [ -z "$out" ]; then
  out=$(mktemp -d /tmp/hotline-bench-report.XXXXXX)
fi
mkdir -p "$out"
echo "results in $out"

pgdb=""
cleanup() {
  if [ -n "$pgdb" ]; then
    psql "$pg" -q -c "DROP DATABASE IF EXISTS $pgdb" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

config() { # $1: store url
  cat <<TOML
# written by scripts/bench-report.sh: only [store] and [reports] matter
[sip.phones]
udp = "127.0.0.1:15060"
[sip.trunk]
udp = "127.0.0.1:15080"
allow = ["127.0.0.0/8"]
[http]
listen = "127.0.0.1:18080"
[store]
url = "$1"
[reports]
timezone = "+08:00"
short_abandon_secs = 5
service_level_secs = 20
[[queues]]
name = "citizen"
[[queues]]
name = "backup"
[[queues]]
name = "emergency"
class = "emergency"
service_level_secs = 10
[[seat_ranges]]
from = 8001
to = 8060
password = "bench-{ext}-password"
queues = [{ queue = "citizen" }, { queue = "backup", penalty = 1 }]
[[seat_ranges]]
from = 8101
to = 8110
password = "bench-{ext}-password"
queues = [{ queue = "emergency" }]
TOML
}

# The year ends 2026-11-25 (inclusive) in +08:00.
from=$(python3 -c "import datetime as d; print((d.date(2026,11,26)-d.timedelta(days=$days)).isoformat())")
to=2026-11-25
reports=("--by line" "--by queue" "--by seat" "--by interval --interval 1h" "--by interval --interval 1d" "--by queue --interval 1d")

bench() { # $1: backend name, $2: config file
  local name=$1 cfg=$2
  echo
  echo "== $name: hotline report --from $from --to $to, $runs runs each (ms)"
  printf '%-38s %8s %8s %8s %10s %6s\n' "report" "min" "median" "max" "query ms" "rows"
  for r in "${reports[@]}"; do
    local times=() q="" rows=""
    for i in $(seq 1 "$runs"); do
      local t0 t1
      t0=$(date +%s%N)
      # shellcheck disable=SC2086
      "$hotline" report --config "$cfg" --from "$from" --to "$to" $r --format json >"$out/report.json" 2>"$out/report.err"
      t1=$(date +%s%N)
      times+=($(( (t1 - t0) / 1000000 )))
      q=$(sed -n 's/.*query_ms=\([0-9]*\).*/\1/p' "$out/report.err" | tail -1)
      rows=$(python3 -c "import json,sys; print(len(json.load(open('$out/report.json'))['rows']))")
    done
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    printf '%-38s %8s %8s %8s %10s %6s\n' "$r" "$(echo "$sorted" | head -1)" "$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")" "$(echo "$sorted" | tail -1)" "$q" "$rows" | tee -a "$out/timings.txt"
  done
}

echo "machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/Mem:/{print $2}') GB"
echo "calls: $calls over $days days"

db=$out/bench.db
rm -f "$db" "$db-wal" "$db-shm"
echo "seeding SQLite $db"
/usr/bin/time -f "seeded in %e s" "$callgen" --url "sqlite://$db" --calls "$calls" --days "$days"
config "sqlite://$db" >"$out/sqlite.toml"
"$hotline" check-config "$out/sqlite.toml" >/dev/null
ls -l "$db" | awk '{printf "SQLite file: %.0f MB\n", $5/1e6}'
bench SQLite "$out/sqlite.toml"

if [ "$use_pg" = 1 ]; then
  pgdb=hotline_bench_$$
  psql "$pg" -q -c "CREATE DATABASE $pgdb" >/dev/null
  pgurl="${pg%/*}/$pgdb"
  echo
  echo "seeding PostgreSQL $pgurl"
  /usr/bin/time -f "seeded in %e s" "$callgen" --url "$pgurl" --calls "$calls" --days "$days"
  psql "$pgurl" -At -c "SELECT 'PostgreSQL database: ' || pg_size_pretty(pg_database_size(current_database()))"
  config "$pgurl" >"$out/postgres.toml"
  bench PostgreSQL "$out/postgres.toml"
fi
