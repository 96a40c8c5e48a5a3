#!/usr/bin/env bash
# test_api_rest.sh: the REST API of API.md from the outside, with curl against build/tickd on a free port:
# every endpoint answers JSON with exact decimals and upper-case symbols; every error is the API.md JSON
# error with the right status (400 404 405 413 414 501); closed candle ranges are immutable with an ETag
# and If-None-Match gets 304; /healthz and /metrics work; HEAD works. tickd is stopped by PID.
set -u
B=${TD_BUILD_DIR:?}
pass=0; fail=0
ok()  { pass=$((pass+1)); echo "ok   $*"; }
bad() { fail=$((fail+1)); echo "FAIL $*"; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for attempt in 1 2 3; do
  port=$(free_port)
  "$B/tickd" --listen 127.0.0.1:$port --data-dir "$tmp/data" --status-interval 0 \
    --feed "sim:symbols=AAPL,MSFT,BRK.B;rate=20000" >"$tmp/log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do grep -q "listening on" "$tmp/log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
  grep -q "listening on" "$tmp/log" && break
  wait $pid 2>/dev/null; pid=
done
[ -n "$pid" ] || { echo "tickd did not start: $(cat "$tmp/log")"; exit 1; }
U=http://127.0.0.1:$port

# req METHOD PATH [curl args...]: sets $code, $body, $headers
req() {
  local m=$1 p=$2; shift 2
  : >"$tmp/body"
  code=$(curl -s -o "$tmp/body" -D "$tmp/headers" -w '%{http_code}' -X "$m" "$@" "$U$p")
  body=$(cat "$tmp/body"); headers=$(cat "$tmp/headers")
}
expect() { # status path-description [grep-pattern-in-body]
  local want=$1 what=$2 pat=${3:-}
  if [ "$code" != "$want" ]; then bad "$what: status $code, want $want: $body"; return; fi
  if [ -n "$pat" ] && ! grep -Eq -- "$pat" <<<"$body"; then bad "$what: body lacks /$pat/: $body"; return; fi
  ok "$what ($code)"
}
expect_error() { # status code what
  expect "$1" "$3" "^\{\"error\":\{\"code\":\"$2\",\"message\":\"[^\"]+\"\}\}$"
}

# wait until AAPL traded and two 1s candles closed
for _ in $(seq 1 100); do
  req GET "/v1/prices/AAPL/candles?interval=1s"
  [ "$(grep -o '"time"' <<<"$body" | wc -l)" -ge 3 ] && break; sleep 0.1
done

req GET /healthz;              expect 200 "healthz" '"status":"ok"'
rm -f "$tmp/body"; req HEAD /healthz --head; expect 200 "HEAD healthz"; grep -q '{' <<<"$body" && bad "HEAD body: $body" || ok "HEAD has no body"
req GET /v1/symbols;           expect 200 "symbols" '"symbol":"BRK.B"'
req GET /v1/prices/aapl;       expect 200 "price (lower-case symbol)" '^\{"symbol":"AAPL","last":[0-9.]+,"bid":[0-9.]+,"ask":[0-9.]+,.*"volume":[0-9.]+,"change_pct":-?[0-9.]+,.*"day_high":[0-9.]+,"day_low":[0-9.]+'
grep -Eq '[0-9]\.[0-9]{9,}|e[-+][0-9]' <<<"$body" && bad "float noise: $body" || ok "no float noise in prices"
req GET /v1/prices/AAPL/nbbo;  expect 200 "nbbo" '"best_bid":[0-9.]+,"best_ask":[0-9.]+,.*"state":"(normal|locked|crossed|stale)"'
req GET "/v1/prices/AAPL/book?depth=3"; expect 200 "book depth 3" '"bids":\[\{"price":[0-9.]+,"quantity":[0-9.]+,"exchange":"[A-Z]+"\}'
n=$(grep -o '"price"' <<<"$body" | wc -l); [ "$n" -le 6 ] && ok "book depth honored ($n levels)" || bad "book depth: $n levels"
req GET "/v1/prices/AAPL/book?depth=2&exchange=nyse"; expect 200 "book of one exchange" '"exchange":"NYSE"\}$'
grep -Eq '"exchange":"(NASDAQ|ARCA)"' <<<"$body" && bad "exchange filter leaks: $body" || ok "exchange filter"
req GET "/v1/prices/BRK.B/ticks?limit=5"; expect 200 "ticks" '^\{"symbol":"BRK.B","ticks":\[\{"price"'
n=$(grep -o '"price"' <<<"$body" | wc -l); [ "$n" = 5 ] && ok "ticks limit" || bad "ticks limit: $n"
from=$(grep -o '"timestamp":[0-9]*' <<<"$body" | tail -1 | cut -d: -f2)
req GET "/v1/prices/BRK.B/ticks?from_ms=$from&limit=3"; expect 200 "ticks from_ms"
first=$(grep -o '"timestamp":[0-9]*' <<<"$body" | head -1 | cut -d: -f2)
[ "${first:-0}" -ge "$from" ] && ok "ticks start at from_ms" || bad "ticks from_ms: $first < $from"

# candles: a closed range is immutable; If-None-Match -> 304; a range with the open candle is short-lived
req GET "/v1/prices/AAPL/candles?interval=1s"; expect 200 "candles" '"interval":"1s","candles":\[\{"time":[0-9]+,"open"'
grep -q '"closed":false' <<<"$body" && ok "open candle included" || bad "no open candle: $body"
grep -qi '^cache-control: public, max-age=1' <<<"$headers" && ok "open range: short max-age" || bad "open range cache: $headers"
t0=$(grep -o '"time":[0-9]*' <<<"$body" | head -1 | cut -d: -f2)
req GET "/v1/prices/AAPL/candles?interval=1s&from=$t0&to=$t0"; expect 200 "closed candle range" "\"time\":$t0"
grep -qi '^cache-control: public, max-age=31536000, immutable' <<<"$headers" && ok "closed range immutable" || bad "closed range cache: $headers"
etag=$(grep -i '^etag:' <<<"$headers" | cut -d' ' -f2 | tr -d '\r')
[ -n "$etag" ] && ok "ETag $etag" || bad "no ETag"
req GET "/v1/prices/AAPL/candles?interval=1s&from=$t0&to=$t0" -H "If-None-Match: $etag"; expect 304 "If-None-Match"
req GET "/v1/prices/AAPL/candles?interval=1s&from=$t0&to=$t0" -H 'If-None-Match: "other"'; expect 200 "other ETag"
req GET "/v1/prices/AAPL/candles?interval=5m&limit=2"; expect 200 "candles 5m"

# errors: status + API.md JSON
req GET /v1/prices/NOPE;                               expect_error 404 not_found "unknown symbol"
req GET /v1/prices/NOPE/candles;                       expect_error 404 not_found "unknown symbol, candles"
req GET /v1/nothing;                                   expect_error 404 not_found "unknown path"
req GET /v1/prices/AAPL/frob;                          expect_error 404 not_found "unknown sub-resource"
req GET "/v1/prices/AAPL/candles?interval=7m";         expect_error 400 bad_request "bad interval"
grep -q "interval must be one of 1s,10s,1m" <<<"$body" && ok "interval message" || bad "interval message: $body"
req GET "/v1/prices/AAPL/candles?limit=0";             expect_error 400 bad_request "limit 0"
req GET "/v1/prices/AAPL/candles?limit=9000";          expect_error 400 bad_request "limit too big for candles"
req GET "/v1/prices/AAPL/candles?from=abc";            expect_error 400 bad_request "from not a number"
req GET "/v1/prices/AAPL/candles?from=20&to=10";       expect_error 400 bad_request "from after to"
req GET "/v1/prices/AAPL/ticks?from_ms=x";             expect_error 400 bad_request "from_ms not a number"
req GET "/v1/prices/AAPL/book?depth=99";               expect_error 400 bad_request "depth too big"
req GET "/v1/prices/AAPL/book?exchange=NOPE";          expect_error 404 not_found "unknown exchange"
req GET "/v1/prices/%ZZ";                              expect 400 "bad percent-encoding"
req GET "/v1/prices/$(printf 'A%.0s' $(seq 40))";      expect_error 400 bad_request "symbol too long"
req POST /v1/prices/AAPL;                              expect_error 405 method_not_allowed "POST"
grep -qi '^allow: GET, HEAD' <<<"$headers" && ok "Allow header" || bad "no Allow header: $headers"
req DELETE /v1/symbols;                                expect_error 405 method_not_allowed "DELETE"
req GET /v1/prices;                                    expect_error 400 bad_request "stream path without upgrade"
req POST /v1/alerts -d '{"symbol":"AAPL"}';            expect_error 501 not_implemented "alerts (own issue)"
head -c 2000000 /dev/zero | tr '\0' 'x' >"$tmp/big"
req POST /v1/alerts --data-binary @"$tmp/big";         expect 413 "body too large"
req GET "/v1/prices/AAPL?x=$(head -c 9000 /dev/zero | tr '\0' 'y')"; expect 414 "request line too long"

req GET /metrics; expect 200 "metrics" '^# HELP'
for m in tickd_ws_clients tickd_ws_messages_out_total tickd_bytes_out_total tickd_slow_clients_closed_total \
         tickd_tick_to_client_seconds_bucket tickd_engine_events_total 'tickd_feed_events_total\{feed="sim' \
         tickd_ring_lag_records tickd_http_requests_total tickd_store_backlog_records tickd_store_corrupt_blocks_total \
         tickd_store_ring_waits_total; do
  grep -Eq "^$m" <<<"$body" && ok "metric $m" || bad "metric $m missing"
done
appended=$(awk '$1 == "tickd_store_appended_total" { print $2 }' <<<"$body")
[ "${appended:-0}" -gt 0 ] 2>/dev/null && ok "the store has taken $appended records" || bad "tickd_store_appended_total '$appended'"
kill -0 $pid && ok "tickd alive after all errors" || bad "tickd died"
kill -TERM $pid; wait $pid; rc=$?; pid=
[ $rc = 0 ] && ok "SIGTERM exits 0" || bad "exit code $rc"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
