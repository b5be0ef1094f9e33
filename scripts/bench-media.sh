#!/usr/bin/env bash
# hotline media benchmark: N concurrent calls with RTP relayed both ways
# through hotline and recorded, raising N until packets are lost or the
# latency hotline adds passes 5 ms at p99. Method and results: BENCHMARKS.md.
#
# Usage: scripts/bench-media.sh [options]
#   --calls LIST      concurrent calls to try, comma-separated, in rising order
#                     (default 100,200,300,500,750,1000,1250,1500,2000)
#   --measure S       seconds of the measuring window per step (default 20)
#   --settle S        seconds between all calls carrying audio and the window (default 3)
#   --cps R           call setups per second while a step ramps up (default 200)
#   --ring-ms MS      how long the seat rings before answering: the caller
#                     hears hotline's prompt meanwhile, which tells the
#                     generator the call's port (default 1000)
#   --max-p99-ms MS   the added-latency limit at p99 (default 5)
#   --poll-us US      the generator drains its sockets, then sleeps this long
#                     (default 500); 0: it blocks in recv, woken by every packet
#   --keep-going      run every step, even after one failed
#   --perf            record hotline with perf during each window
#                     (perf record --call-graph dwarf -F 499; perf.data in the step's folder, see --out)
#   --rtp-base PORT   first port of hotline's RTP range (default 10000); the
#                     range is 4 ports per call of the largest step
#   --log FILTER      hotline's HOTLINE_LOG filter (default info, as in production)
#   --no-build        use the existing release binaries, do not run cargo
#   --bin PATH        benchmark this hotline binary (implies --no-build;
#                     hotline-rtpload is taken from the same folder)
#   --out DIR         keep everything (config, logs, SIPp stats, generator
#                     reports, perf data; not the recordings) in DIR
#   -h, --help        this text
#
# What it does: builds hotline and its RTP generator hotline-rtpload
# (cargo build --release --locked --bins); writes a config derived from
# config/demo.toml into a temp dir (free ports, fresh SQLite database,
# queue citizen with wrapup_secs = 0, [media] on with the demo prompts,
# recordings in the temp dir, one answering seat per call of the largest
# step); starts hotline; registers the seats from the address the seat
# UAS (bench/media_seat_uas.xml: rings --ring-ms, then answers with the
# generator's seat address) then binds. For each N: starts the trunk
# UAC (bench/media_trunk_uac.xml: N calls at --cps to line 12345, each
# long enough to outlast the window, then BYE) and hotline-rtpload,
# which plays every caller and every seat: it waits until all N calls
# carry audio both ways, measures over the window and reports. Then the
# calls end, and the step checks that every call succeeded on both SIPp
# sides and has an answered record with its recording.
#
# Columns: calls = concurrent calls N; failed = failed calls (either SIPp
# side, or a record not answered or without a recording); sent% = packets
# the generator sent through hotline in the window, in % of 50/s per
# stream (below 98%: it fell behind, verdict SLOWGEN); lost c>s, s>c
# = RTP packets sent in the window that never came back through hotline,
# caller to seat and seat to caller (in % of those sent); hl_drops =
# datagrams the kernel dropped on hotline's RTP sockets (receive buffer
# full); add_p50/add_p99 = latency added by hotline in ms (through-hotline
# latency minus the generator's own median, see BENCHMARKS.md); base_p99
# = the generator's own p99 (straight caller socket -> seat socket);
# hl_cpu, gen_cpu, sipp_cpu, others = CPU in % of one core (200% = both
# cores) of hotline, hotline-rtpload, both SIPps and everything else;
# hl_wait = time hotline's threads were runnable but waiting for a CPU
# (schedstat), in % of the window summed over threads;
# hl_rss = hotline's VmRSS at the window's end (MB) and its growth over
# the idle start per call (kB); rec_MB/s = growth of the recordings
# directory during the window (expected 32,000 B/s per call: 8 kHz
# 16-bit stereo). Verdict: ok = no failed call, no packet lost, p99
# added latency <= --max-p99-ms; LOSS, SLOWGEN, LATE, FAILED otherwise (the series
# stops there unless --keep-going).
#
# CARGO_TARGET_DIR is honoured (binaries in $CARGO_TARGET_DIR/release).
#
# Exit status: 0 when the benchmark ran (whatever the steps found);
# non-zero only for setup errors (build, config, start, registration).
# Every process it starts is stopped on exit, including on Ctrl-C.
#
# Needs: cargo, sipp (apt-get install sip-tester), curl, jq, ss, awk;
# perf for --perf.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CALLS="100,200,300,500,750,1000,1250,1500,2000"
MEASURE=20
SETTLE=3
RING_MS=1000
POLL_US=500
CPS=200
MAX_P99_MS=5
KEEP_GOING=0
PERF=0
RTP_BASE=10000
LOG_FILTER="info"
BUILD=1
OUT=""
BIN=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench-media: error: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --calls) CALLS="$2"; shift 2 ;;
    --measure) MEASURE="$2"; shift 2 ;;
    --settle) SETTLE="$2"; shift 2 ;;
    --cps) CPS="$2"; shift 2 ;;
    --ring-ms) RING_MS="$2"; shift 2 ;;
    --poll-us) POLL_US="$2"; shift 2 ;;
    --max-p99-ms) MAX_P99_MS="$2"; shift 2 ;;
    --keep-going) KEEP_GOING=1; shift ;;
    --perf) PERF=1; shift ;;
    --rtp-base) RTP_BASE="$2"; shift 2 ;;
    --log) LOG_FILTER="$2"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --bin) BIN="$2"; BUILD=0; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done
for v in MEASURE SETTLE RING_MS POLL_US CPS MAX_P99_MS RTP_BASE; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "--$(echo "$v" | tr 'A-Z_' 'a-z-') must be a number"
done
[[ "$CALLS" =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--calls must be numbers separated by commas"
IFS=',' read -r -a call_list <<<"$CALLS"
MAX_CALLS=0
for n in "${call_list[@]}"; do [ "$n" -gt "$MAX_CALLS" ] && MAX_CALLS=$n; done
[ "$MAX_CALLS" -ge 1 ] && [ "$MAX_CALLS" -le 10000 ] || die "--calls must be 1..10000"
[ "$CPS" -ge 1 ] || die "--cps must be at least 1"
RTP_MAX=$((RTP_BASE + 4 * MAX_CALLS + 3))
[ "$RTP_BASE" -ge 1024 ] && [ "$RTP_MAX" -le 65535 ] || die "the RTP range $RTP_BASE-$RTP_MAX does not fit in 1024..65535"
for tool in sipp curl jq ss awk; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (sipp: apt-get install sip-tester)"
done
[ "$PERF" = 0 ] || command -v perf >/dev/null 2>&1 || die "--perf needs perf"

step() { printf '\n==> %s\n' "$*"; }
now_ms() { date +%s%3N; }

# ---- processes and cleanup ---------------------------------------------------
HL_PID=""; UAS_PID=""; UAC_PID=""; GEN_PID=""; PERF_PID=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/hotline-bench-media.XXXXXX")"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "$PERF_PID" "$GEN_PID" "$UAC_PID" "$UAS_PID"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  if [ -n "$HL_PID" ] && kill -0 "$HL_PID" 2>/dev/null; then
    kill -TERM "$HL_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$HL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$HL_PID" 2>/dev/null || true
  fi
  for pid in "$PERF_PID" "$GEN_PID" "$UAC_PID" "$UAS_PID" "$HL_PID"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK/recordings"
  if [ -n "$OUT" ]; then
    mkdir -p "$OUT" && cp -r "$WORK"/. "$OUT"/ && echo "bench-media: files kept in $OUT"
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- helpers -----------------------------------------------------------------
USED_PORTS=" "
# A port free for UDP and TCP on every address, below hotline's RTP range
# and the ranges the test suite and scripts/bench.sh pick from.
free_port() {
  local p
  for _ in $(seq 500); do
    p=$(( RANDOM % 3000 + 6000 ))
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
# A field of /proc/PID/status in kB (VmRSS, VmHWM).
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

# Value of the column named $2 in the last line of a SIPp stat CSV ($1).
stat_col() {
  [ -s "$1" ] || { echo ""; return; }
  awk -F';' -v col="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
                         { last = $0 } END { if (c && last != "") { split(last, f, ";"); print f[c] } }' "$1"
}

api() { curl -fsS --max-time 30 "$HTTP$1"; }

# An injection file for seats $1..$2 (password demo-EXT, as in the demo).
seat_csv() {
  echo "SEQUENTIAL"
  seq "$1" "$2" | awk '{ printf "%s;demo-%s;[authentication username=%s password=demo-%s]\n", $1, $1, $1, $1 }'
}

sipp_common=(-nostdin -trace_err -buff_size 4194304 -max_recv_loops 10000 -max_sched_loops 10000)

# ---- build -------------------------------------------------------------------
BIN="${BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/hotline}"
GEN="$(dirname "$BIN")/hotline-rtpload"
if [ "$BUILD" = 1 ]; then
  step "cargo build --release --locked --bins"
  (cd "$ROOT" && cargo build --release --locked --bins) || die "cargo build failed"
fi
[ -x "$BIN" ] || die "no hotline binary at $BIN (build it or drop --no-build)"
[ -x "$GEN" ] || die "no hotline-rtpload binary at $GEN (cargo build --release --bins)"

# ---- config ------------------------------------------------------------------
for p in $(seq "$RTP_BASE" 64 "$RTP_MAX"); do
  [ -z "$(ss -Hanu "( sport >= :$p and sport <= :$((p + 63)) )" 2>/dev/null)" ] \
    || die "UDP ports near $p are in use: hotline needs $RTP_BASE-$RTP_MAX free (choose another --rtp-base)"
done
PHONES_PORT="$(free_port)"; TRUNK_PORT="$(free_port)"; HTTP_PORT="$(free_port)"
PHONES="127.0.0.1:$PHONES_PORT"; TRUNK="127.0.0.1:$TRUNK_PORT"; HTTP="http://127.0.0.1:$HTTP_PORT"
TRUNK_IP=127.0.0.2; SEAT_IP=127.0.0.3; SEAT_PORT="$(free_port)"
CALLER_RTP="$TRUNK_IP:$(free_port)"; SEAT_RTP="$SEAT_IP:$(free_port)"
SEAT_FROM=20001; SEAT_TO=$((SEAT_FROM + MAX_CALLS - 1))

CONFIG="$WORK/hotline.toml"
step "config $CONFIG (phones $PHONES, trunk $TRUNK, HTTP $HTTP, RTP $RTP_BASE-$RTP_MAX)"
# The demo config up to its seats, with fresh addresses, database and
# recordings, and queue citizen without wrap-up (a seat takes its next
# call at once) and with a generous ring timeout.
# No [tickets]: nothing would receive the events (they wait in the outbox).
awk '/^# ---- seats/ { exit } /^\[(media|tickets)\]/ { skip = 1; next } /^\[/ { skip = 0 } !skip { print }' "$ROOT/config/demo.toml" \
  | sed -e "s|\"127.0.0.1:5060\"|\"$PHONES\"|g" \
        -e "s|\"127.0.0.1:5080\"|\"$TRUNK\"|g" \
        -e "s|\"127.0.0.1:8080\"|\"127.0.0.1:$HTTP_PORT\"|g" \
        -e "s|\"sqlite://hotline.db\"|\"sqlite://$WORK/hotline.db\"|" \
        -e "s|^root = \"recordings\"|root = \"$WORK/recordings\"|" \
        -e '/^name = "citizen"/,/^\[\[/ { s/^wrapup_secs = .*/wrapup_secs = 0/; s/^ring_timeout_secs = .*/ring_timeout_secs = 30/ }' \
  > "$CONFIG"
cat >> "$CONFIG" <<EOF

# ---- bench media and seats (scripts/bench-media.sh) ----
[media]
rtp_port_min = $RTP_BASE
rtp_port_max = $RTP_MAX
codecs = ["PCMA", "PCMU"]
prompts_dir = "$ROOT/config/prompts"
language = "zh"

# Answering seats: all reached at one SIPp UAS, one per concurrent call.
[[seat_ranges]]
from = $SEAT_FROM
to = $SEAT_TO
password = "demo-{ext}"
queues = [{ queue = "citizen", penalty = 0 }]
EOF
for want in "\"$PHONES\"" "\"$TRUNK\"" "\"127.0.0.1:$HTTP_PORT\"" "sqlite://$WORK/hotline.db" "root = \"$WORK/recordings\"" "wrapup_secs = 0" "auto_ready = true"; do
  grep -qF "$want" "$CONFIG" || die "config/demo.toml changed shape: could not set $want in the bench config"
done
"$BIN" check-config "$CONFIG" >/dev/null || die "the bench config does not validate"

# ---- start hotline -----------------------------------------------------------
# Every port of the range is a socket held from the start (RTP on the even
# ones, RTCP on the odd ones): four per call.
need_fds=$((4 * MAX_CALLS + 1024))
[ "$(ulimit -n)" -ge "$need_fds" ] || ulimit -n "$need_fds" 2>/dev/null || die "hotline needs $need_fds open files (ulimit -n)"
step "starting hotline (HOTLINE_LOG=$LOG_FILTER)"
(cd "$WORK" && exec env HOTLINE_LOG="$LOG_FILTER" "$BIN" serve --config "$CONFIG" >/dev/null 2>"$WORK/hotline.log") &
HL_PID=$!
for _ in $(seq 300); do
  api /api/health >/dev/null 2>&1 && break
  kill -0 "$HL_PID" 2>/dev/null || { tail -20 "$WORK/hotline.log" >&2; die "hotline exited at start"; }
  sleep 0.1
done
api /api/health >/dev/null || { tail -20 "$WORK/hotline.log" >&2; die "hotline did not become healthy"; }
echo "hotline pid $HL_PID healthy: $(api /api/health)"
sleep 1
RSS_START="$(status_kb "$HL_PID" VmRSS)"

# ---- answering seats -----------------------------------------------------------
step "registering $MAX_CALLS answering seats ($SEAT_FROM..$SEAT_TO) from $SEAT_IP:$SEAT_PORT"
dir="$WORK/seat-register"; mkdir -p "$dir"
seat_csv "$SEAT_FROM" "$SEAT_TO" > "$dir/seats.csv"
rc=0
(cd "$dir" && exec sipp "$PHONES" -sf "$ROOT/bench/register.xml" -key expires 3600 -i "$SEAT_IP" -p "$SEAT_PORT" \
    -inf "$dir/seats.csv" -m "$MAX_CALLS" -r 1000 -l 1000 -recv_timeout 5000 \
    -timeout $((MAX_CALLS / 1000 + 60)) -timeout_error -error_file "$dir/errors.log" \
    -trace_stat -stf "$dir/stat.csv" "${sipp_common[@]}" >/dev/null 2>"$dir/stderr.log") || rc=$?
ok="$(stat_col "$dir/stat.csv" "SuccessfulCall(C)")"
[ "$rc" = 0 ] && [ "${ok:-0}" = "$MAX_CALLS" ] || { tail -5 "$dir/errors.log" "$dir/stderr.log" >&2 2>/dev/null || true; die "seat registration: SIPp exit $rc, $ok of $MAX_CALLS succeeded"; }
UAS_DIR="$WORK/seat-uas"; mkdir -p "$UAS_DIR"
sed -e "s/{{RTP_IP}}/${SEAT_RTP%:*}/g" -e "s/{{RTP_PORT}}/${SEAT_RTP#*:}/g" -e "s/{{RING_MS}}/$RING_MS/" "$ROOT/bench/media_seat_uas.xml" > "$UAS_DIR/seat_uas.xml"
(cd "$UAS_DIR" && exec sipp -sf "$UAS_DIR/seat_uas.xml" -i "$SEAT_IP" -p "$SEAT_PORT" \
    -trace_stat -stf "$UAS_DIR/stat.csv" -fd 1 -error_file "$UAS_DIR/errors.log" \
    "${sipp_common[@]}" >/dev/null 2>"$UAS_DIR/stderr.log") &
UAS_PID=$!
sleep 1
kill -0 "$UAS_PID" 2>/dev/null || { cat "$UAS_DIR/stderr.log" >&2; die "the seat UAS did not start"; }
ready="$(api /api/seats | jq '[.seats[] | select((.registrations | length) > 0)] | length')"
echo "seat UAS pid $UAS_PID on $SEAT_IP:$SEAT_PORT (SDP $SEAT_RTP); $ready seats registered; RSS ${RSS_START} kB at start"
[ "$ready" -ge "$MAX_CALLS" ] || die "only $ready of $MAX_CALLS answering seats are registered"

# ---- steps -----------------------------------------------------------------------
RESULTS="$WORK/results.tsv"
printf 'calls\tfailed\tsent%%\tlost_c>s\tlost_s>c\thl_drops\tadd_p50_ms\tadd_p99_ms\tbase_p99_ms\thl_cpu\thl_wait\tgen_cpu\tsipp_cpu\tothers\thl_rss_MB\tkB/call\trec_MB/s\trec_expected\tverdict\n' > "$RESULTS"

# Waits (at most 120 s) until hotline has no live call and no record pending.
wait_settled() {
  local live="?" pending="?" deadline=$(( $(now_ms) + 120000 ))
  while [ "$(now_ms)" -lt "$deadline" ]; do
    live="$(curl -fsS --max-time 5 "$HTTP/api/calls/live" 2>/dev/null | jq '.calls | length' 2>/dev/null || echo "?")"
    pending="$(curl -fsS --max-time 5 "$HTTP/api/health" 2>/dev/null | jq '.records_pending' 2>/dev/null || echo "?")"
    [ "$live" = 0 ] && [ "$pending" = 0 ] && return 0
    sleep 0.5
  done
  echo "bench-media: hotline has not settled 120 s after the calls (live calls $live, records pending $pending)" >&2
  return 1
}

# Call records offered in [$1, $2): "outcome recording-size" per line.
fetch_records() {
  local off=0 page n
  while :; do
    page="$(api "/api/calls?from=$1&to=$2&limit=1000&offset=$off")" || return 1
    n="$(jq '.calls | length' <<<"$page")"
    jq -r '.calls[] | "\(.outcome // "live") \(.recording.size_bytes // "-")"' <<<"$page"
    [ "$n" -lt 1000 ] && break
    off=$((off + 1000))
  done
}

uas_col() { stat_col "$UAS_DIR/stat.csv" "$1"; }
ms() { jq -r "if $1 == null then \"-\" else ($1 / 1000 * 100 | round / 100) end" "$2"; }

for n in "${call_list[@]}"; do
  dir="$WORK/calls-$n"; mkdir -p "$dir"
  ramp=$(( (n + CPS - 1) / CPS ))
  # The generator waits for every call's audio at most ready_s, and the
  # calls outlast that, the window and its drain.
  ready_s=$((ramp + RING_MS / 1000 + 15))
  hold_s=$((ready_s + SETTLE + MEASURE + 8))
  step "$n concurrent calls: set up at $CPS/s (${ramp} s), each ${hold_s} s long; measuring ${MEASURE} s once all carry audio"
  sed -e "s/{{RTP_IP}}/${CALLER_RTP%:*}/g" -e "s/{{RTP_PORT}}/${CALLER_RTP#*:}/g" -e "s/{{HOLD_MS}}/$((hold_s * 1000))/" \
    "$ROOT/bench/media_trunk_uac.xml" > "$dir/trunk_uac.xml"
  uas_fail0="$(uas_col "FailedCall(C)")"
  warns0="$(grep -cE ' (WARN|ERROR) ' "$WORK/hotline.log" || true)"
  start_ms=$(now_ms)
  port="$(free_port)"
  (cd "$dir" && exec sipp "$TRUNK" -sf "$dir/trunk_uac.xml" -s 12345 -i "$TRUNK_IP" -p "$port" \
      -r "$CPS" -m "$n" -l "$n" -recv_timeout 30000 \
      -timeout $((hold_s + ramp + 120)) -timeout_error -error_file "$dir/errors.log" \
      -trace_stat -stf "$dir/stat.csv" -fd 1 \
      "${sipp_common[@]}" >/dev/null 2>"$dir/stderr.log") &
  UAC_PID=$!
  : > "$dir/rtpload.log"
  "$GEN" --caller "$CALLER_RTP" --seat "$SEAT_RTP" --streams "$n" \
      --poll-us "$POLL_US" --ready-timeout "$ready_s" --settle "$SETTLE" --measure "$MEASURE" \
      --pid "hotline=$HL_PID" --pid "sipp_trunk=$UAC_PID" --pid "sipp_seat=$UAS_PID" \
      --recordings "$WORK/recordings" --hotline-ports "$RTP_BASE-$RTP_MAX" \
      >"$dir/report.json" 2>"$dir/rtpload.log" &
  GEN_PID=$!
  # Progress, and perf during the window if asked.
  shown=0
  while kill -0 "$GEN_PID" 2>/dev/null; do
    lines=$(wc -l < "$dir/rtpload.log")
    [ "$lines" -gt "$shown" ] && { tail -n +"$((shown + 1))" "$dir/rtpload.log" | head -n "$((lines - shown))"; shown=$lines; }
    if [ "$PERF" = 1 ] && [ -z "$PERF_PID" ] && grep -q '^rtpload: measuring' "$dir/rtpload.log"; then
      perf record -e cpu-clock -F 499 --call-graph dwarf -p "$HL_PID" -o "$dir/perf.data" -- sleep "$((MEASURE > 2 ? MEASURE - 1 : 1))" >"$dir/perf.log" 2>&1 &
      PERF_PID=$!
    fi
    sleep 0.2
  done
  gen_rc=0; wait "$GEN_PID" || gen_rc=$?; GEN_PID=""
  tail -n +"$((shown + 1))" "$dir/rtpload.log"
  [ -n "$PERF_PID" ] && { wait "$PERF_PID" || true; PERF_PID=""; }
  echo "waiting for the calls to end (SIPp, then hotline's records)..."
  rc=0; wait "$UAC_PID" || rc=$?; UAC_PID=""
  settled=1; wait_settled || settled=0
  sleep 0.5
  end_ms=$(now_ms)
  kill -0 "$HL_PID" 2>/dev/null || { tail -20 "$WORK/hotline.log" >&2; die "hotline exited during the $n-call step"; }
  warns=$(( $(grep -cE ' (WARN|ERROR) ' "$WORK/hotline.log" || true) - warns0 ))
  ok="$(stat_col "$dir/stat.csv" "SuccessfulCall(C)")"
  failed="$(stat_col "$dir/stat.csv" "FailedCall(C)")"
  uas_fail=$(( $(uas_col "FailedCall(C)") - ${uas_fail0:-0} ))
  fetch_records "$start_ms" "$end_ms" > "$dir/records.txt" || echo "bench-media: GET /api/calls failed; the records count below is incomplete" >&2
  records=$(wc -l < "$dir/records.txt")
  recorded=$(awk '$1 == "answered" && $2 != "-"' "$dir/records.txt" | wc -l)
  # Every call: successful at the trunk and the seat, answered, recorded.
  bad=$(printf '%s\n' $(( n - ${ok:-0} )) "$uas_fail" $(( n - recorded )) | sort -n | tail -1)
  R="$dir/report.json"
  if [ ! -s "$R" ]; then
    cat "$dir/rtpload.log" >&2
    die "hotline-rtpload reported nothing for $n calls (exit $gen_rc)"
  fi
  read -r sent_cs lost_cs sent_sc lost_sc < <(jq -r '[.rtp.caller_to_seat.sent, .rtp.caller_to_seat.lost, .rtp.seat_to_caller.sent, .rtp.seat_to_caller.lost] | @tsv' "$R")
  pct() { awk -v l="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%d (%.3f%%)", l, l * 100 / s; else print "-" }'; }
  hl_drops="$(jq -r '.udp_drops.hotline' "$R")"
  sent_pct="$(jq -r '.sent_pct_of_nominal' "$R")"
  add50="$(ms .added_latency_us.p50 "$R")"; add99="$(ms .added_latency_us.p99 "$R")"; base99="$(ms .rtp.baseline.latency_us.p99 "$R")"
  hl_wait="$(jq -r '.runq_wait_pct.hotline' "$R")"
  hl_cpu="$(jq -r '.cpu_pct.hotline' "$R")"; gen_cpu="$(jq -r '.cpu_pct.rtpload' "$R")"
  sipp_cpu="$(jq -r '(.cpu_pct.sipp_trunk // 0) + (.cpu_pct.sipp_seat // 0) | . * 10 | round / 10' "$R")"
  others="$(jq -r '[.machine_cpu_pct - .cpu_pct.hotline - .cpu_pct.rtpload - (.cpu_pct.sipp_trunk // 0) - (.cpu_pct.sipp_seat // 0), 0] | max | . * 10 | round / 10' "$R")"
  rss_kb="$(jq -r '.rss_kb.hotline' "$R")"
  per_call=$(( (rss_kb - RSS_START) / n ))
  rec="$(jq -r '.recordings.bytes_per_sec / 1e6 * 100 | round / 100' "$R")"
  rec_exp="$(awk -v n="$n" 'BEGIN { printf "%.2f", n * 32000 / 1e6 }')"
  verdict=ok
  if [ "$gen_rc" != 0 ] || [ "$rc" != 0 ] || [ "$bad" -gt 0 ] || [ "${failed:-1}" != 0 ] || [ "$settled" = 0 ]; then
    verdict=FAILED
  elif [ "$lost_cs" != 0 ] || [ "$lost_sc" != 0 ]; then
    verdict=LOSS
  elif awk -v p="$sent_pct" 'BEGIN { exit !(p < 98) }'; then
    verdict=SLOWGEN   # the generator fell behind: less load than N calls

  elif [ "$add99" = "-" ] || awk -v a="$add99" -v m="$MAX_P99_MS" 'BEGIN { exit !(a > m) }'; then
    verdict=LATE
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s%%\t%s%%\t%s%%\t%s%%\t%s%%\t%s\t%s\t%s\t%s\t%s\n' \
    "$n" "$bad" "$sent_pct" "$(pct "$lost_cs" "$sent_cs")" "$(pct "$lost_sc" "$sent_sc")" "$hl_drops" "$add50" "$add99" "$base99" \
    "$hl_cpu" "$hl_wait" "$gen_cpu" "$sipp_cpu" "$others" "$((rss_kb / 1024))" "$per_call" "$rec" "$rec_exp" "$verdict" >> "$RESULTS"
  echo "calls: SIPp exit $rc, $ok of $n successful at the trunk (failed ${failed:-?}), $uas_fail failed at the seat; $records records, $recorded answered with a recording; hotline warnings/errors logged $warns"
  echo "RTP: generator sent $sent_pct% of 50 packets/s per stream; caller->seat lost $(pct "$lost_cs" "$sent_cs") of $sent_cs, seat->caller lost $(pct "$lost_sc" "$sent_sc") of $sent_sc; hotline socket drops $hl_drops; added latency p50 $add50 ms, p99 $add99 ms (generator alone p99 $base99 ms)"
  echo "CPU: hotline $hl_cpu% (its threads waited $hl_wait% for a CPU), hotline-rtpload $gen_cpu%, SIPps $sipp_cpu%, others $others% (of one core); hotline RSS $((rss_kb / 1024)) MB (+$per_call kB per call); recordings $rec MB/s (expected $rec_exp) -> $verdict"
  rm -rf "$WORK/recordings"
  if [ "$settled" = 0 ]; then
    echo "bench-media: stopping here: hotline is still busy with this step's calls" >&2
    break
  fi
  if [ "$verdict" != ok ] && [ "$KEEP_GOING" = 0 ]; then
    echo "bench-media: stopping at the first step that failed (--keep-going runs them all)"
    break
  fi
done

# ---- summary -------------------------------------------------------------------
step "summary"
echo "hotline $("$BIN" --version 2>/dev/null | awk '{ print $2 }') $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || true); $(sipp -v 2>&1 | awk '/SIPp v/ { print $2; exit }'); $(nproc) cores: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo); load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "window ${MEASURE} s per step after ${SETTLE} s of settling; calls set up at $CPS/s, seats ring ${RING_MS} ms; generator polls every ${POLL_US} us; log filter $LOG_FILTER; RSS at start ${RSS_START} kB"
echo
column -t -s $'\t' "$RESULTS" 2>/dev/null || cat "$RESULTS"
best="$(awk -F'\t' 'NR > 1 && $NF == "ok" { if ($1 + 0 > b) b = $1 + 0 } END { print b + 0 }' "$RESULTS")"
echo
echo "most concurrent recorded calls with zero loss and p99 added latency <= $MAX_P99_MS ms: $best"
