#!/usr/bin/env bash
# test_history_restart.sh: REST /candles serves stored history across a restart. Run tickd on the sim,
# read the closed 1s candles, stop it (SIGTERM), start it again on the same --data-dir, and check that the
# candles seen before are still served, identical, with no duplicate time, and that seq did not go back.
set -u
B=${TD_BUILD_DIR:?}
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "ok   $*"; }
bad() { fail=$((fail+1)); echo "FAIL $*"; }
tmp=$(mktemp -d); pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start() {
  "$B/tickd" --data-dir "$tmp/data" --listen 127.0.0.1:$port --status-interval 0 --feed 'sim:symbols=AAPL;rate=2000' \
    >>"$tmp/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do curl -sf "127.0.0.1:$port/healthz" >/dev/null && return 0; sleep 0.1; done
  return 1
}
stop() { kill -TERM "$pid"; wait "$pid"; local c=$?; pid=""; return $c; }
candles() { curl -sf "127.0.0.1:$port/v1/prices/AAPL/candles?interval=1s&limit=5000"; }
field() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

start && ok "tickd up" || { bad "tickd did not start: $(tail -5 "$tmp/log")"; echo "$pass passed, $fail failed"; exit 1; }
sleep 4
candles > "$tmp/before.json"
seq1=$(curl -sf "127.0.0.1:$port/v1/prices/AAPL" | field '["seq"]')
stop && ok "clean stop (exit 0)" || bad "stop exit code"
start && ok "restarted on the same data dir" || bad "restart failed: $(tail -5 "$tmp/log")"
sleep 2
candles > "$tmp/after.json"
seq2=$(curl -sf "127.0.0.1:$port/v1/prices/AAPL" | field '["seq"]')
stop
/usr/bin/python3 - "$tmp/before.json" "$tmp/after.json" <<'PY' && ok "closed candles identical after restart, no duplicates" || bad "candle history differs"
import json, sys
before = [c for c in json.load(open(sys.argv[1]))["candles"] if c.get("closed", True)]
after = json.load(open(sys.argv[2]))["candles"]
times = [c["time"] for c in after]
assert len(before) >= 2, f"too few candles before restart: {len(before)}"
assert times == sorted(times) and len(times) == len(set(times)), "times not strictly increasing"
by_time = {c["time"]: c for c in after}
for c in before:
    assert by_time.get(c["time"]) == c, f"candle {c['time']} changed or missing: {c} vs {by_time.get(c['time'])}"
print(f"{len(before)} closed candles before, {len(after)} after")
PY
[ "${seq2:-0}" -gt "${seq1:-0}" ] && ok "seq continued ($seq1 -> $seq2)" || bad "seq went back: $seq1 -> $seq2"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
