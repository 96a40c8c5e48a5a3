#!/usr/bin/env bash
# test_cli.sh: tickd and tickctl from the outside: bad flags are clear errors (exit 2), --help works,
# the default simulator runs and prints status lines with events and an NBBO, and SIGTERM exits 0.
set -u
B=${TD_BUILD_DIR:?}
pass=0; fail=0
ok()   { pass=$((pass+1)); echo "ok   $*"; }
bad()  { fail=$((fail+1)); echo "FAIL $*"; }
check_exit() { # expected-code description command...
  local want=$1 what=$2; shift 2
  out=$("$@" 2>&1); code=$?
  if [ "$code" = "$want" ]; then ok "$what (exit $code)"; else bad "$what: exit $code, want $want: $out"; fi
}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

check_exit 0 "tickd --help" "$B/tickd" --help
"$B/tickd" --help | grep -q -- "--feed SPEC" && ok "help lists --feed" || bad "help lists --feed"
check_exit 2 "unknown flag" "$B/tickd" --bogus 1
"$B/tickd" --bogus 1 2>&1 | grep -q "unknown option '--bogus'" && ok "unknown flag named" || bad "unknown flag named"
check_exit 2 "bad --listen" "$B/tickd" --listen nonsense
check_exit 2 "bad --fsync" "$B/tickd" --fsync sometimes
check_exit 2 "bad feed kind" "$B/tickd" --data-dir "$tmp/d" --feed nosuchfeed:x
check_exit 2 "missing feed file" "$B/tickd" --data-dir "$tmp/d" --feed lobster:/nonexistent.csv
check_exit 2 "bad sim spec" "$B/tickd" --data-dir "$tmp/d" --feed "sim:rate=abc"
check_exit 2 "unsupported role" "$B/tickd" --role edge
check_exit 0 "tickctl --help" "$B/tickctl" --help
check_exit 2 "tickctl unknown subcommand" "$B/tickctl" frobnicate

# the default job: simulator, status lines, clean shutdown on SIGTERM
"$B/tickd" --data-dir "$tmp/data" --listen 127.0.0.1:0 --status-interval 200 >"$tmp/out" 2>&1 &
pid=$!
for _ in $(seq 1 50); do grep -q "events/s" "$tmp/out" 2>/dev/null && grep -q "nbbo" "$tmp/out" && break; sleep 0.1; done
sleep 1
kill -TERM $pid; wait $pid; code=$?
[ "$code" = 0 ] && ok "SIGTERM exits 0" || bad "SIGTERM exit code $code"
grep -q "status.*events/s" "$tmp/out" && ok "status line printed" || bad "no status line: $(tail -5 "$tmp/out")"
grep -Eq "nbbo [0-9.]+ x [0-9.]+" "$tmp/out" && ok "status shows an NBBO" || bad "no NBBO in status: $(tail -3 "$tmp/out")"
rate=$(grep -o '[0-9]* events/s' "$tmp/out" | tail -1 | cut -d' ' -f1)
[ "${rate:-0}" -gt 0 ] && ok "events flowing ($rate/s)" || bad "no events flowing"
grep -q "stopped:" "$tmp/out" && ok "clean shutdown logged" || bad "no shutdown line"
[ -d "$tmp/data" ] && ok "data dir created" || bad "data dir not created"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
