#!/usr/bin/env bash
# hotline benchmark: call setups per second and memory per registered seat,
# with SIPp on loopback. Method and results: BENCHMARKS.md.
#
# Usage: scripts/bench.sh [options]
#   --rates LIST      trunk call rates to try, calls/s, comma-separated
#                     (default 100,250,500,750,1000,1250,1500,1750,2000)
#   --secs N          seconds of calls per rate: each step offers rate*N calls (default 10)
#   --seats N         answering seats, all served by one SIPp UAS (default 500)
#   --mem-seats N     extra seats registered only to measure memory (default 10000; 0 skips)
#   --mem-settle S    seconds to wait after registering them before reading
#                     RSS, so that the REGISTER transactions have expired (default 35)
#   --keep-mem-registered  leave those seats registered (and ready) during the
#                     call steps; by default they are un-registered first
#   --hold MS         talk time of each call, uniform in 0..MS ms (default 500)
#   --limit N         SIPp -l: most calls in flight (default 2*rate)
#   --recv-timeout MS a call fails if an expected answer takes longer (default 10000)
#   --log FILTER      hotline's HOTLINE_LOG filter (default info, as in production)
#   --no-build        use the existing release binary, do not run cargo
#   --bin PATH        benchmark this hotline binary (implies --no-build)
#   --out DIR         keep everything (config, hotline log, SIPp stats) in DIR
#   -h, --help        this text
#
# What it does: builds hotline (cargo build --release --locked); writes a
# config derived from config/demo.toml into a temp dir (free ports, fresh
# SQLite database, queue citizen with wrapup_secs = 0 and a generous ring
# timeout, auto_ready kept); starts hotline and waits for /api/health;
# registers --mem-seats seats from one SIPp UAC (bench/register.xml) and
# reports RSS growth per registered seat; registers the answering seats from
# the address the seat UAS (bench/seat_uas.xml) then binds; for each rate,
# runs the trunk UAC (bench/trunk_uac.xml: INVITE to line 12345 from
# 127.0.0.2, 200, ACK, short talk, BYE) with -r/-m/-l/-timeout and reads
# SIPp's statistics, hotline's CPU and RSS from /proc, and hotline's call
# records from /api/calls (every call must have its record, answered).
# Prints a table and the highest rate with zero failed calls.
#
# Columns: ok/failed = SIPp's successful/failed calls at the trunk; cps =
# achieved call setups per second (answered calls over the span of their
# answer times, from hotline's records); setup_ms = INVITE -> 200 at the
# trunk (SIPp rtd, in ms; its clock ticks ~4 ms here); retrans = SIPp retransmissions;
# records/answered = hotline's call records for the step and how many say
# answered; dropped = records the store writer dropped; settle_s = time from
# the last call's end until no live call and no pending record; hl_cpu,
# sipp_cpu (both SIPps), others_cpu = CPU in % of one core (200% = both
# cores); hl_rss_mb = hotline's VmRSS after the step; warns = WARN/ERROR
# lines hotline logged. Verdict: ok = no failure of any kind and >= 95% of
# the rate achieved; slow = no failure but SIPp's -l held the rate back;
# FAILED = any failed call (either SIPp side), a missing or unanswered
# record, a dropped record, or hotline still busy 60 s after the calls (the
# series stops there).
#
# CARGO_TARGET_DIR is honoured (the binary is $CARGO_TARGET_DIR/release/hotline).
#
# Exit status: 0 when the benchmark ran (whatever the rates achieved);
# non-zero only for setup errors (build, config, start, registration).
# Every process it starts is stopped on exit, including on Ctrl-C.
#
# Needs: cargo, sipp (apt-get install sip-tester), curl, jq, ss, awk.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RATES="100,250,500,750,1000,1250,1500,1750,2000"
SECS=10
SEATS=500
MEM_SEATS=10000
KEEP_MEM=0
MEM_SETTLE=35
HOLD_MS=500
LIMIT=""
RECV_TIMEOUT=10000
LOG_FILTER="info"
BUILD=1
OUT=""
BIN=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --rates) RATES="$2"; shift 2 ;;
    --secs) SECS="$2"; shift 2 ;;
    --seats) SEATS="$2"; shift 2 ;;
    --mem-seats) MEM_SEATS="$2"; shift 2 ;;
    --keep-mem-registered) KEEP_MEM=1; shift ;;
    --mem-settle) MEM_SETTLE="$2"; shift 2 ;;
    --hold) HOLD_MS="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --recv-timeout) RECV_TIMEOUT="$2"; shift 2 ;;
    --log) LOG_FILTER="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN="$2"; BUILD=0; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
for v in SECS SEATS MEM_SEATS MEM_SETTLE HOLD_MS RECV_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--$(echo "$v" | tr 'A-Z_' 'a-z-') must be a number"
done
[[ "$RATES" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--rates must be numbers separated by commas"
[ "$SEATS" -ge 1 ] && [ "$SEATS" -le 10000 ] || die "--seats must be 1..10000"
for tool in sipp curl jq ss awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (sipp: apt-get install sip-tester)"
done

step() { printf '\n==> %s\n' "$*"; }
now_ms() { date +%s%3N; }

# ---- processes and cleanup ---------------------------------------------------
HL_PID=""; UAS_PID=""; UAC_PID=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hotline-bench.XXXXXX")"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "$UAC_PID" "$UAS_PID"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  if [ -n "$HL_PID" ] && kill -0 "$HL_PID" 2>/dev/null; then
    kill -TERM "$HL_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$HL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$HL_PID" 2>/dev/null || true
  fi
  for pid in "$UAC_PID" "$UAS_PID" "$HL_PID"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  if [ -n "$OUT" ]; then
    mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/ && echo "bench: files kept in $OUT"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------
USED_PORTS=" "
# A port free for UDP and TCP on every address (below the ephemeral range).
free_port() {
  local p
  for _ in $(seq 500); do
    p=$(( (RANDOM * 32768 + RANDOM) % 12000 + 20000 ))
    [[ "$USED_PORTS" == *" $p "* ]] && continue
    if [ -z "$(ss -Hantu "( sport = :$p )" 2>/dev/null)" ]; then
      USED_PORTS+="$p "
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# utime+stime of a process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Busy and total ticks of the whole machine.
machine_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }
# A field of /proc/PID/status in kB (VmRSS, VmHWM).
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
CLK_TCK="$(getconf CLK_TCK)"
NCPU="$(nproc)"

# Value of the column named $2 in the last line of a SIPp stat CSV ($1).
stat_col() {
  [ -s "$1" ] || { echo ""; return; }
  awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
                         { last = $0 } END { if (c && last != "") { split(last, f, ";"); print f[c] } }' "$1"
}

api() { curl -fsS --max-time 30 "$HTTP$1"; }
# hotline's count of records its writer dropped, or "?" if it does not answer.
records_dropped() { api /api/health 2>/dev/null | jq -e '.records_dropped' 2>/dev/null || echo "?"; }

# An injection file for seats $1..$2 (password demo-EXT, as in the demo).
seat_csv() {
  echo "SEQUENTIAL"
  seq "$1" "$2" | awk '{ printf "%s;demo-%s;[authentication username=%s password=demo-%s]\n", $1, $1, $1, $1 }'
}

sipp_common=(-nostdin -trace_err -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000)

# ---- build -------------------------------------------------------------------
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/hotline}"
if [ "$BUILD" = 1 ]; then
  step "cargo build --release --locked"
  (cd "$ROOT" && cargo build --release --locked) || die "cargo build failed"
fi
[ -x "$BIN" ] || die "no hotline binary at $BIN (build it or drop --no-build)"

# ---- config ------------------------------------------------------------------
PHONES_PORT="$(free_port)"; TRUNK_PORT="$(free_port)"; HTTP_PORT="$(free_port)"
PHONES="127.0.0.1:$PHONES_PORT"; TRUNK="127.0.0.1:$TRUNK_PORT"; HTTP="http://127.0.0.1:$HTTP_PORT"
SEAT_IP=127.0.0.3; SEAT_PORT="$(free_port)"
MEM_IP=127.0.0.4; MEM_PORT="$(free_port)"
TRUNK_IP=127.0.0.2
SEAT_FROM=20001; SEAT_TO=$((SEAT_FROM + SEATS - 1))
MEM_FROM=100000; MEM_TO=$((MEM_FROM + MEM_SEATS - 1))

CONFIG="$WORK/hotline.toml"
step "config $CONFIG (phones $PHONES, trunk $TRUNK, HTTP $HTTP)"
# The demo config up to its seats, with fresh addresses and database, and
# queue citizen made benchmark-friendly: no wrap-up, generous ring timeout.
# No [media]: the bench is signalling only, SDP passes end to end and
# hotline never touches audio (scripts/bench-media.sh measures media). No
# [tickets]: nothing would receive the events (they wait in the outbox).
awk '/^# ---- seats/ { exit } /^\[(media|tickets|outbound|outbound\.patterns)\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip { print }' "$ROOT/config/demo.toml" \
  | sed -e "s|\"127.0.0.1:5060\"|\"$PHONES\"|g" \
        -e "s|\"127.0.0.1:5080\"|\"$TRUNK\"|g" \
        -e "s|\"127.0.0.1:8080\"|\"127.0.0.1:$HTTP_PORT\"|g" \
        -e "s|\"sqlite://hotline.db\"|\"sqlite://$WORK/hotline.db\"|" \
        -e "s|^root = \"recordings\"|root = \"$WORK/recordings\"|" \
        -e '/^name = "citizen"/,/^\[\[/ { s/^wrapup_secs = .*/wrapup_secs = 0/; s/^ring_timeout_secs = .*/ring_timeout_secs = 30/ }' \
  > "$CONFIG"
{
  echo
  echo "# ---- bench seats (scripts/bench.sh) ----"
  echo "# Answering seats: all reached at one SIPp UAS."
  echo "[[seat_ranges]]"
  echo "from = $SEAT_FROM"
  echo "to = $SEAT_TO"
  echo 'password = "demo-{ext}"'
  echo 'queues = [{ queue = "citizen", penalty = 0 }]'
  # Memory seats: registered, ready, in a queue no benchmark call reaches.
  f=$MEM_FROM
  while [ "$MEM_SEATS" -gt 0 ] && [ "$f" -le "$MEM_TO" ]; do
    t=$((f + 9999)); [ "$t" -gt "$MEM_TO" ] && t=$MEM_TO
    echo
    echo "[[seat_ranges]]"
    echo "from = $f"
    echo "to = $t"
    echo 'password = "demo-{ext}"'
    echo 'queues = [{ queue = "emergency", penalty = 0 }]'
    f=$((t + 1))
  done
} >> "$CONFIG"
for want in "\"$PHONES\"" "\"$TRUNK\"" "\"127.0.0.1:$HTTP_PORT\"" "sqlite://$WORK/hotline.db" "wrapup_secs = 0" "auto_ready = true"; do
  grep -qF "$want" "$CONFIG" || die "config/demo.toml changed shape: could not set $want in the bench config"
done
"$BIN" check-config "$CONFIG" || die "the bench config does not validate"

# ---- start hotline -----------------------------------------------------------
step "starting hotline (HOTLINE_LOG=$LOG_FILTER)"
(cd "$WORK" && exec env HOTLINE_LOG="$LOG_FILTER" "$BIN" serve --config "$CONFIG" >/dev/null 2>"$WORK/hotline.log") &
HL_PID=$!
for _ in $(seq 200); do
  api /api/health >/dev/null 2>&1 && break
  kill -0 "$HL_PID" 2>/dev/null || { tail -20 "$WORK/hotline.log" >&2; die "hotline exited at start"; }
  sleep 0.1
done
api /api/health >/dev/null || { tail -20 "$WORK/hotline.log" >&2; die "hotline did not become healthy"; }
echo "hotline pid $HL_PID healthy: $(api /api/health)"
sleep 1
RSS_START="$(status_kb "$HL_PID" VmRSS)"

# Registers seats $1..$2 from $3:$4 at rate $5 (log dir $6) with Expires $7
# (0 un-registers); fails the bench if any registration fails.
register() {
  local from=$1 to=$2 ip=$3 port=$4 rate=$5 name=$6 expires=$7 n=$(($2 - $1 + 1)) rc=0
  local dir="$WORK/$name"; mkdir -p "$dir"
  seat_csv "$from" "$to" > "$dir/seats.csv"
  (cd "$dir" && exec sipp "$PHONES" -sf "$ROOT/bench/register.xml" -key expires "$expires" -i "$ip" -p "$port" \
      -inf "$dir/seats.csv" -m "$n" -r "$rate" -l 1000 -recv_timeout 5000 \
      -timeout $((n / rate + 60)) -timeout_error -error_file "$dir/errors.log" \
      -trace_stat -stf "$dir/stat.csv" "${sipp_common[@]}" >/dev/null 2>"$dir/stderr.log") || rc=$?
  local ok; ok="$(stat_col "$dir/stat.csv" "SuccessfulCall(C)")"
  if [ "$rc" != 0 ] || [ "${ok:-0}" != "$n" ]; then
    tail -5 "$dir/errors.log" "$dir/stderr.log" >&2 2>/dev/null || true
    die "$name: SIPp exit $rc, $ok of $n REGISTERs succeeded"
  fi
}

# ---- memory per registered seat -----------------------------------------------
MEM_PER_SEAT="n/a"; RSS_BEFORE=""; RSS_AFTER=""; RSS_UNREG=""
if [ "$MEM_SEATS" -gt 0 ]; then
  step "memory: registering $MEM_SEATS seats ($MEM_FROM..$MEM_TO) from $MEM_IP:$MEM_PORT"
  RSS_BEFORE="$(status_kb "$HL_PID" VmRSS)"
  t0=$(now_ms)
  register "$MEM_FROM" "$MEM_TO" "$MEM_IP" "$MEM_PORT" 2000 mem-register 3600
  t1=$(now_ms)
  echo "registered $MEM_SEATS in $((t1 - t0)) ms"
  sleep 2
  RSS_AFTER_NOW="$(status_kb "$HL_PID" VmRSS)"
  echo "RSS ${RSS_BEFORE} kB -> ${RSS_AFTER_NOW} kB right after: $(( (RSS_AFTER_NOW - RSS_BEFORE) * 1024 / MEM_SEATS )) bytes per seat, with the REGISTER transactions still held"
  # Completed REGISTER transactions are kept for Timer J (64*T1 = 32 s) to
  # absorb retransmissions; the figure that stays is the one after that.
  echo "waiting ${MEM_SETTLE} s for the transactions to expire..."
  sleep "$MEM_SETTLE"
  RSS_AFTER="$(status_kb "$HL_PID" VmRSS)"
  MEM_PER_SEAT=$(( (RSS_AFTER - RSS_BEFORE) * 1024 / MEM_SEATS ))
  regd="$(api /api/seats | jq '[.seats[] | select((.registrations | length) > 0)] | length')"
  echo "hotline reports $regd seats with a binding"
  echo "RSS ${RSS_BEFORE} kB -> ${RSS_AFTER} kB after ${MEM_SETTLE} s: $MEM_PER_SEAT bytes per registered seat"
  [ "$regd" -ge "$MEM_SEATS" ] || die "hotline shows $regd registered seats, expected $MEM_SEATS"
  if [ "$KEEP_MEM" = 0 ]; then
    # Out of the way of the call steps: every registered, ready seat costs
    # the engine work per event (see BENCHMARKS.md), and a call center's
    # size is the answering seats, not these.
    register "$MEM_FROM" "$MEM_TO" "$MEM_IP" "$MEM_PORT" 2000 mem-unregister 0
    sleep 1
    RSS_UNREG="$(status_kb "$HL_PID" VmRSS)"
    echo "un-registered them again: RSS ${RSS_UNREG} kB"
  fi
fi

# ---- answering seats -----------------------------------------------------------
step "registering $SEATS answering seats ($SEAT_FROM..$SEAT_TO) from $SEAT_IP:$SEAT_PORT"
register "$SEAT_FROM" "$SEAT_TO" "$SEAT_IP" "$SEAT_PORT" 1000 seat-register 3600
UAS_DIR="$WORK/seat-uas"; mkdir -p "$UAS_DIR"
(cd "$UAS_DIR" && exec sipp -sf "$ROOT/bench/seat_uas.xml" -i "$SEAT_IP" -p "$SEAT_PORT" \
    -trace_stat -stf "$UAS_DIR/stat.csv" -fd 1 -error_file "$UAS_DIR/errors.log" \
    "${sipp_common[@]}" >/dev/null 2>"$UAS_DIR/stderr.log") &
UAS_PID=$!
sleep 1
kill -0 "$UAS_PID" 2>/dev/null || { cat "$UAS_DIR/stderr.log" >&2; die "the seat UAS did not start"; }
ready="$(api /api/seats | jq --arg a "$SEAT_FROM" --arg b "$SEAT_TO" \
  '[.seats[] | select((.extension | tonumber) >= ($a | tonumber) and (.extension | tonumber) <= ($b | tonumber)) | select((.registrations | length) > 0)] | length')"
echo "seat UAS pid $UAS_PID on $SEAT_IP:$SEAT_PORT; $ready of $SEATS answering seats registered"
[ "$ready" = "$SEATS" ] || die "only $ready of $SEATS answering seats are registered"

# ---- rate steps ------------------------------------------------------------------
sed "s/{{HOLD_MS}}/$HOLD_MS/" "$ROOT/bench/trunk_uac.xml" > "$WORK/trunk_uac.xml"
RESULTS="$WORK/results.tsv"
printf 'rate\tcalls\tok\tfailed\tcps\tsetup_ms_p50\tsetup_ms_p99\tsetup_ms_max\tretrans\trecords\tanswered\tdropped\tsettle_s\thl_cpu\thl_rss_mb\tsipp_cpu\tothers_cpu\twarns\tverdict\n' > "$RESULTS"

# Waits (at most 60 s) until hotline has no live call and no record pending.
wait_settled() {
  local live="?" pending="?" deadline=$(( $(now_ms) + 60000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    live="$(curl -fsS --max-time 5 "$HTTP/api/calls/live" 2>/dev/null | jq '.calls | length' 2>/dev/null || echo "?")"
    pending="$(curl -fsS --max-time 5 "$HTTP/api/health" 2>/dev/null | jq '.records_pending' 2>/dev/null || echo "?")"
    [ "$live" = 0 ] && [ "$pending" = 0 ] && return 0
    sleep 0.2
  done
  echo "bench: hotline has not settled 60 s after the calls (live calls $live, records pending $pending)" >&2
  return 1
}

# Call records offered in [$1, $2): "offered answered outcome" per line.
fetch_records() {
  local off=0 page n
  while :; do
    page="$(api "/api/calls?from=$1&to=$2&limit=1000&offset=$off")" || return 1
    n="$(jq '.calls | length' <<<"$page")"
    jq -r '.calls[] | "\(.offered_at_ms) \(.answered_at_ms // "-") \(.outcome // "live")"' <<<"$page"
    [ "$n" -lt 1000 ] && break
    off=$((off + 1000))
  done
}

uas_col() { stat_col "$UAS_DIR/stat.csv" "$1"; }

IFS=',' read -r -a rate_list <<<"$RATES"
for rate in "${rate_list[@]}"; do
  calls=$((rate * SECS))
  limit="${LIMIT:-$((rate * 2))}"
  dir="$WORK/rate-$rate"; mkdir -p "$dir"
  port="$(free_port)"
  step "rate $rate calls/s: $calls calls, at most $limit in flight, talk 0..$HOLD_MS ms"
  uas_ok0="$(uas_col "SuccessfulCall(C)")"; uas_fail0="$(uas_col "FailedCall(C)")"
  warns0="$(grep -cE ' (WARN|ERROR) ' "$WORK/hotline.log" || true)"
  dropped0="$(records_dropped)"
  start_ms=$(now_ms)
  hl0=$(cpu_ticks "$HL_PID"); uas0=$(cpu_ticks "$UAS_PID"); read -r mb0 mt0 < <(machine_ticks)
  t0=$(now_ms)
  (cd "$dir" && exec sipp "$TRUNK" -sf "$WORK/trunk_uac.xml" -s 12345 -i "$TRUNK_IP" -p "$port" \
      -r "$rate" -m "$calls" -l "$limit" -recv_timeout "$RECV_TIMEOUT" \
      -timeout $((SECS * 3 + 60)) -timeout_error -error_file "$dir/errors.log" \
      -trace_stat -stf "$dir/stat.csv" -fd 1 -trace_rtt -rtt_freq 100 \
      -trace_screen -screen_file "$dir/screen.log" \
      "${sipp_common[@]}" >/dev/null 2>"$dir/stderr.log") &
  UAC_PID=$!
  uac_ticks=0
  while kill -0 "$UAC_PID" 2>/dev/null; do
    t="$(cpu_ticks "$UAC_PID")"; [ "$t" -gt 0 ] && uac_ticks=$t
    sleep 0.2
  done
  rc=0; wait "$UAC_PID" || rc=$?; UAC_PID=""
  t1=$(now_ms)
  hl1=$(cpu_ticks "$HL_PID"); uas1=$(cpu_ticks "$UAS_PID"); read -r mb1 mt1 < <(machine_ticks)
  wall=$((t1 - t0))
  hl_cpu=$(( (hl1 - hl0) * 100000 / CLK_TCK / wall ))
  sipp_cpu=$(( (uac_ticks + uas1 - uas0) * 100000 / CLK_TCK / wall ))
  # Everything else on the machine (other users, the shell), in % of one core.
  others=$(( (mb1 - mb0) * 100 * NCPU / (mt1 - mt0) - hl_cpu - sipp_cpu ))
  [ "$others" -ge 0 ] || others=0
  if [ ! -s "$dir/stat.csv" ]; then
    cat "$dir/stderr.log" >&2
    die "SIPp (trunk) did not run at rate $rate (exit $rc)"
  fi
  settled=1; wait_settled || settled=0
  settle_s="$(awk -v a="$t1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')"
  sleep 0.5
  end_ms=$(now_ms)
  kill -0 "$HL_PID" 2>/dev/null || { tail -20 "$WORK/hotline.log" >&2; die "hotline exited during rate $rate"; }
  rss_mb=$(( $(status_kb "$HL_PID" VmRSS) / 1024 ))
  warns=$(( $(grep -cE ' (WARN|ERROR) ' "$WORK/hotline.log" || true) - warns0 ))
  dropped="$(records_dropped)"
  [[ "$dropped" =~ ^[0-9]+$ && "$dropped0" =~ ^[0-9]+$ ]] && dropped=$((dropped - dropped0)) || dropped="?"

  created="$(stat_col "$dir/stat.csv" "TotalCallCreated")"
  ok="$(stat_col "$dir/stat.csv" "SuccessfulCall(C)")"
  failed="$(stat_col "$dir/stat.csv" "FailedCall(C)")"
  retrans="$(stat_col "$dir/stat.csv" "Retransmissions(C)")"
  uas_fail=$(( $(uas_col "FailedCall(C)") - ${uas_fail0:-0} ))
  # Setup time (INVITE -> 200 at the trunk) from SIPp's per-call rtd trace.
  rtt="$(ls "$dir"/*_rtt.csv 2>/dev/null | head -1 || true)"
  read -r p50 p99 pmax < <( { [ -n "$rtt" ] && awk -F';' '$2 ~ /^[0-9.]+$/ { print $2 }' "$rtt"; } | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR == 0) { print "- - -"; exit }
             i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
             printf "%.0f %.0f %.0f\n", v[i50], v[i99], v[NR] }')
  # hotline's own view: one record per offered call, all answered.
  fetch_records "$start_ms" "$end_ms" > "$dir/records.txt" \
    || echo "bench: GET /api/calls failed; the records count below is incomplete" >&2
  records=$(wc -l < "$dir/records.txt")
  answered=$(awk '$3 == "answered"' "$dir/records.txt" | wc -l)
  # Achieved setup rate: answered calls over the span of their answer times.
  cps="$(awk '$2 != "-" { n++; if (!lo || $2 < lo) lo = $2; if ($2 > hi) hi = $2 }
              END { if (n > 1 && hi > lo) printf "%.0f", (n - 1) * 1000 / (hi - lo); else print 0 }' "$dir/records.txt")"
  verdict="ok"
  if [ "$settled" = 0 ] || [ "$rc" != 0 ] || [ "${failed:-1}" != 0 ] || [ "${ok:-0}" != "$calls" ] || [ "$uas_fail" != 0 ] \
     || [ "$records" != "$calls" ] || [ "$answered" != "$calls" ] || [ "$dropped" != 0 ]; then
    verdict="FAILED"
  elif [ "$cps" -lt $((rate * 95 / 100)) ]; then
    verdict="slow"   # no failures, but SIPp's -l held the rate back
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$rate" "$calls" "${ok:-0}" "${failed:-?}" "$cps" "$p50" "$p99" "$pmax" "${retrans:-?}" \
    "$records" "$answered" "$dropped" "$settle_s" "$hl_cpu%" "$rss_mb" "$sipp_cpu%" "$others%" "$warns" "$verdict" >> "$RESULTS"
  echo "SIPp exit $rc: created $created, successful $ok, failed $failed (seat side failed $uas_fail), retransmissions $retrans"
  echo "setup ms p50 $p50 p99 $p99 max $pmax; achieved $cps calls/s; records $records, answered $answered, dropped by the writer $dropped; settled ${settle_s} s after SIPp ended"
  echo "hotline CPU $hl_cpu% of one core, RSS $rss_mb MB; both SIPps $sipp_cpu%; other processes $others% (all in % of one core); hotline warnings/errors logged $warns -> $verdict"
  [ "$verdict" = ok ] || tail -c 600 "$dir/errors.log" 2>/dev/null || true
  if [ "$settled" = 0 ]; then
    echo "bench: stopping here: hotline is still busy with this rate's calls, a higher rate would measure the backlog" >&2
    break
  fi
done

# ---- summary -------------------------------------------------------------------
step "summary"
echo "hotline $("$BIN" --version 2>/dev/null | awk '{ print $2 }') $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || true); $(sipp -v 2>&1 | awk '/SIPp v/ { print $2; exit }'); $(nproc) cores: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
echo "seats: $SEATS answering, $MEM_SEATS for memory ($([ "$KEEP_MEM" = 1 ] && echo "still registered during the calls" || echo "un-registered before the calls")); talk 0..$HOLD_MS ms; $SECS s per rate; log filter $LOG_FILTER"
echo "memory: RSS at start ${RSS_START} kB; ${RSS_BEFORE:-?} kB -> ${RSS_AFTER:-?} kB over $MEM_SEATS registrations (read ${MEM_SETTLE} s after) = $MEM_PER_SEAT bytes per registered seat${RSS_UNREG:+; ${RSS_UNREG} kB after un-registering them}"
echo
column -t -s $'\t' "$RESULTS" 2>/dev/null || cat "$RESULTS"
best="$(awk -F'\t' 'NR > 1 && $NF != "FAILED" { if ($1 + 0 > b) b = $1 + 0 } END { print b + 0 }' "$RESULTS")"
sustained="$(awk -F'\t' 'NR > 1 && $NF == "ok" { if ($1 + 0 > b) b = $1 + 0 } END { print b + 0 }' "$RESULTS")"
echo
echo "highest rate with zero failed calls, achieved within 5%: $sustained calls/s"
echo "(highest offered rate with zero failed calls, achieved or not: $best calls/s)"
[ -z "$OUT" ] || cp "$RESULTS" "$WORK/summary.tsv"
