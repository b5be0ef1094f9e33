#!/usr/bin/env bash
# The whole test suite, as the README and CI run it.
#   - installs what the tests talk to (SIPp, baresip, python3) when missing and we can;
#   - points the store tests at PostgreSQL (HOTLINE_TEST_PG_URL; default
#     the local server at 127.0.0.1:5432, database `test`);
#   - checks the formatting (cargo fmt, default rustfmt settings), runs
#     clippy with warnings as errors, then every test.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# The real peers the tests talk to: SIPp (trunk and seat phones), baresip
# (a desk phone that registers, answers and plays a WAV) and Python's
# standard library (a ticket system); PJSIP (pjsua2) for attended transfer.
missing=()
command -v sipp >/dev/null 2>&1 || missing+=(sip-tester)
command -v baresip >/dev/null 2>&1 || missing+=(baresip-core)
# python3 runs the ticket system the tests push events to (tests/receiver).
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: missing test peers; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
fi
# PJSIP (pjsua2, a binary wheel from PyPI) plays the desk phone that does
# an attended transfer (tests/pjsua/attended_agent.py).
PJSUA2=pjsua2-python==2.15.1.post1
if ! python3 -c "import pjsua2" >/dev/null 2>&1; then
  step "installing $PJSUA2 (pip)"
  python3 -m pip install -q --disable-pip-version-check "$PJSUA2" ||
    python3 -m pip install -q --disable-pip-version-check --break-system-packages "$PJSUA2" || {
      echo "error: cannot install $PJSUA2; run: python3 -m pip install $PJSUA2" >&2
      exit 1
    }
fi

export HOTLINE_TEST_PG_URL="${HOTLINE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "warning: no PostgreSQL answers at 127.0.0.1:5432; the PostgreSQL store tests will fail." >&2
  echo "         start it (pg_ctlcluster <version> main start) or set HOTLINE_TEST_PG_URL." >&2
fi

step "cargo fmt --check (run \`cargo fmt\` to fix)"
cargo fmt --check

step "cargo clippy (warnings are errors)"
cargo clippy --all-targets --locked -- -D warnings

step "cargo test (unit tests, then SIPp integration tests against the real binary)"
cargo test --locked -- --test-threads="${HOTLINE_TEST_THREADS:-4}"

step "all tests passed"
