#!/usr/bin/env bash
# test_store_cli.sh: the store from the outside. tickctl import/verify/export round trip; one flipped byte
# makes verify exit 1 naming the file and offset, export still answers (skipping the block, exit 1); tickd
# writes its events to --data-dir, shuts down cleanly (SIGINT), restarts on the same directory (restore,
# recovery) and the store verifies whole after each run; kill -9 of tickd leaves a store that a restart
# recovers (verify clean after the restart).
set -u
B=${TD_BUILD_DIR:?}
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "ok   $*"; }
bad() { fail=$((fail+1)); echo "FAIL $*"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# import a bounded simulator stream (events, NBBO changes and candles through an engine)
"$B/tickctl" import "$tmp/s" --feed "sim:rate=max;seed=7" --max 50000 >"$tmp/imp" 2>&1 \
  && ok "import" || { bad "import: $(cat "$tmp/imp")"; }
"$B/tickctl" verify "$tmp/s" >"$tmp/v" 2>&1 && grep -q "0 damaged" "$tmp/v" && ok "verify clean" || bad "verify clean: $(cat "$tmp/v")"
day=$(ls "$tmp/s/ticks" | head -1 | cut -c1-10)
next=$(date -u -d "$day + 1 day" +%Y-%m-%d)
"$B/tickctl" export "$tmp/s" AAPL "$day" "$next" >"$tmp/csv" 2>"$tmp/exp.err" && ok "export" || bad "export: $(cat "$tmp/exp.err")"
head -1 "$tmp/csv" | grep -q "^exch_ns,recv_ns,seq" && ok "csv header" || bad "csv header"
rows=$(($(wc -l <"$tmp/csv") - 1))
[ "$rows" -gt 1000 ] && ok "export rows ($rows)" || bad "export rows ($rows)"
grep -q ",NBBO," "$tmp/csv" && ok "NBBO changes stored" || bad "NBBO changes stored"
"$B/tickctl" export "$tmp/s" AAPL "$day" "$next" --candles 1m >"$tmp/c1m" 2>&1
[ "$(wc -l <"$tmp/c1m")" -gt 1 ] && ok "1m candles stored" || bad "1m candles: $(head -3 "$tmp/c1m")"

# damage: flip one byte in the middle of the tick partition
f=$(ls "$tmp"/s/ticks/*.tdb | head -1)
size=$(stat -c %s "$f")
off=$((size / 2))
python3 - "$f" "$off" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read()); b[off] ^= 0x5a; open(p, 'wb').write(b)
PY
"$B/tickctl" verify "$tmp/s" >"$tmp/v2" 2>&1; code=$?
[ "$code" = 1 ] && ok "verify exits 1 on damage" || bad "verify exit $code on damage"
grep -q "DAMAGE .*$(basename "$f"): offset" "$tmp/v2" && ok "verify names the file and offset" || bad "verify output: $(cat "$tmp/v2")"
"$B/tickctl" export "$tmp/s" AAPL "$day" "$next" >"$tmp/csv2" 2>"$tmp/exp2.err"; code=$?
rows2=$(($(wc -l <"$tmp/csv2") - 1))
if [ "$rows2" -le "$rows" ]; then ok "export after damage ($rows2 rows, exit $code)"; else bad "export after damage: $rows2 > $rows"; fi

# tickd on a data dir: run, SIGINT, verify; again (restart restores state); then kill -9 and restart
for run in 1 2; do
  "$B/tickd" --data-dir "$tmp/d" --listen 127.0.0.1:0 --fsync batch --status-interval 0 >"$tmp/run$run" 2>&1 &
  pid=$!; sleep 1.5; kill -INT $pid; wait $pid; code=$?
  [ "$code" = 0 ] && ok "tickd run $run exits 0" || bad "tickd run $run exit $code: $(tail -5 "$tmp/run$run")"
  "$B/tickctl" verify "$tmp/d" >"$tmp/dv$run" 2>&1 && ok "store whole after run $run" || bad "store after run $run: $(cat "$tmp/dv$run")"
done
[ -s "$tmp/d/state.tds" ] && ok "engine state logged" || bad "no state log"
"$B/tickd" --data-dir "$tmp/d" --listen 127.0.0.1:0 --fsync off --status-interval 0 >"$tmp/run3" 2>&1 &
pid=$!; sleep 1.2; kill -9 $pid; wait $pid 2>/dev/null
"$B/tickd" --data-dir "$tmp/d" --listen 127.0.0.1:0 --status-interval 0 >"$tmp/run4" 2>&1 &
pid=$!; sleep 1; kill -TERM $pid; wait $pid; code=$?
[ "$code" = 0 ] && ok "tickd restarts after kill -9" || bad "restart after kill -9: exit $code: $(tail -5 "$tmp/run4")"
"$B/tickctl" verify "$tmp/d" >"$tmp/dv4" 2>&1 && ok "store whole after kill -9 + restart" || bad "after kill -9: $(cat "$tmp/dv4")"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
