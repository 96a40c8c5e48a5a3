#!/usr/bin/env python3
"""test_ticks_history.py: REST /ticks serves any range from the store joined to the live ring, end to end.

1. tickd replays a LOBSTER day (AMZN, ~11,400 executions) at full speed with --fsync off (the writer flushes
   once a second, so thousands of trades arrive between two flushes: more than the 4,096-trade ring). While it
   runs, /ticks is polled: every answer must be a contiguous run of the final list (complete or not: never a
   silent hole). Once the feed has ended, paging through the whole day (after_seq, and from_ms = last
   timestamp + after_seq) gives exactly the engine's trade count, seq strictly increasing, timestamps in
   range, the same trades tickctl export finds stored (TRADE_OUT rows).
2. tickd on the simulator (times are now: a 2012 day would be dropped by the 7-year tick TTL at the next
   start), kill -9 after the trades served so far were flushed, restart on the same data dir: those trades are
   still served (from the store), identical, and the new ones follow with higher seq.
Every wait is bounded; tickd is stopped by PID; data in a temp dir; 127.0.0.1 only."""
import csv, io, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

from e2e_util import check, metric, results, spawn_tickd

BUILD = os.environ.get("TD_BUILD_DIR", "build")
DATA = os.environ.get("TD_SHARED_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data"))
MSG = os.path.join(DATA, "lobster", "AMZN_2012-06-21_34200000_57600000_message_1.csv")
BOOK = os.path.join(DATA, "lobster", "AMZN_2012-06-21_34200000_57600000_orderbook_1.csv")
# 2012-06-21 09:30 to 16:00 New York (EDT, UTC-4) in ms
DAY_FROM_MS = 1340285400000
DAY_TO_MS = 1340308800000
procs = []


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return json.loads(r.read())


def start(tmp, extra):
    return spawn_tickd(BUILD, tmp, extra, procs)


def trades_count(port, sym):
    for s in get(port, "/v1/symbols")["symbols"]:
        if s["symbol"] == sym:
            return s["trades"]
    return 0


def page_all(port, from_ms, to_ms, limit, by_time=False):
    """Every trade in [from_ms, to_ms] through pages of `limit`: after_seq = last seq (and, by_time, also
    from_ms = last timestamp). Returns (trades, every page complete)."""
    out, after, frm, all_complete = [], 0, from_ms, True
    for _ in range(10000):
        q = "/v1/prices/AMZN/ticks?from_ms=%d&to_ms=%d&limit=%d&after_seq=%d" % (frm, to_ms, limit, after)
        a = get(port, q)
        all_complete &= a["complete"]
        if not a["ticks"]:
            break
        out += a["ticks"]
        after = a["ticks"][-1]["seq"]
        if by_time:
            frm = a["ticks"][-1]["timestamp"]
    return out, all_complete


def strictly_increasing(ts):
    return all(ts[i]["seq"] < ts[i + 1]["seq"] for i in range(len(ts) - 1))


def main():
    if not (os.path.exists(MSG) and os.path.exists(BOOK)):
        print("skip: no LOBSTER data under", DATA)
        return 77
    tmp = tempfile.mkdtemp(prefix="td_ticks_")
    # ---- 1. a fast replay with rare flushes ----
    p, port = start(tmp, ["--fsync", "off", "--feed", "lobster:%s,%s" % (MSG, BOOK), "--speed", "max"])
    during = []
    last, stable_since, t_end = -1, time.time(), time.time() + 30
    while time.time() < t_end:
        a = get(port, "/v1/prices/AMZN/ticks?limit=10000") if trades_count(port, "AMZN") else None
        if a is not None:
            during.append(a)
        n = trades_count(port, "AMZN")
        if n != last:
            last, stable_since = n, time.time()
        elif n > 0 and time.time() - stable_since > 1.5:
            break
        time.sleep(0.02)
    engine_trades = trades_count(port, "AMZN")
    check(engine_trades > 4096, "the replay made %d trades (more than the ring holds)" % engine_trades)
    full, complete = page_all(port, DAY_FROM_MS, DAY_TO_MS, 1000)
    check(complete, "every page complete")
    check(len(full) == engine_trades, "paged through %d trades, the engine made %d" % (len(full), engine_trades))
    check(strictly_increasing(full), "seq strictly increasing, no duplicate")
    check(all(DAY_FROM_MS <= t["timestamp"] <= DAY_TO_MS for t in full), "timestamps within the range")
    by_time, _ = page_all(port, DAY_FROM_MS, DAY_TO_MS, 997, by_time=True)
    check([t["seq"] for t in by_time] == [t["seq"] for t in full],
          "paging by from_ms = last timestamp + after_seq gives the same %d trades" % len(by_time))
    seqs = [t["seq"] for t in full]
    bad = 0
    for a in during:
        ts = [t["seq"] for t in a["ticks"]]
        if ts and ts != seqs[:len(ts)]:
            bad += 1
    incomplete = sum(1 for a in during if not a["complete"])
    check(bad == 0, "%d answers during the replay, each a contiguous prefix of the day (%d marked incomplete)"
          % (len(during), incomplete))
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        m = r.read().decode()
    flushes = [l for l in m.splitlines() if l.startswith("tickd_ticks_store_flushes_total")]
    print("info:", flushes[0] if flushes else "no flush counter", flush=True)
    # what the store holds: the engine's trades (TRADE_OUT rows), the same ones
    ex = subprocess.run([os.path.join(BUILD, "tickctl"), "export", os.path.join(tmp, "data"), "AMZN",
                         "2012-06-21", "2012-06-22"], capture_output=True, text=True, timeout=60)
    rows = [r for r in csv.DictReader(io.StringIO(ex.stdout)) if r["type"] == "TRADE_OUT"]
    check(ex.returncode == 0 and [int(r["seq"]) for r in rows] == seqs,
          "tickctl export: %d TRADE_OUT rows, the same seqs as /ticks" % len(rows))
    check(all(r["a"] == "%s" % t["price"] or float(r["a"]) == t["price"] for r, t in zip(rows, full)),
          "stored prices equal the served ones")
    p.send_signal(signal.SIGTERM)
    check(p.wait(timeout=20) == 0, "clean stop")
    # ---- 2. kill -9 and restart (the simulator: its times are now; a 2012 day would be past the 7-year TTL) ----
    tmp2 = tempfile.mkdtemp(prefix="td_ticks_")
    sim = ["--feed", "sim:symbols=AMZN;rate=20000;seed=7"]
    p, port = start(tmp2, sim)
    t_end = time.time() + 15
    while trades_count(port, "AMZN") < 3000 and time.time() < t_end:
        time.sleep(0.1)
    before, complete = page_all(port, 0, 9000000000000, 1000)
    check(complete and len(before) >= 3000 and strictly_increasing(before),
          "%d live trades served before the kill, in order" % len(before))
    # every trade served had been handed to the store first (main.c: the store hook runs before the API's);
    # wait until tickd reports that many records written (what survives kill -9), however slow the machine
    appended = metric(port, "tickd_store_appended_total")
    t_end = time.time() + 30
    while metric(port, "tickd_store_written_total") < appended and time.time() < t_end:
        time.sleep(0.05)
    check(metric(port, "tickd_store_written_total") >= appended,
          "the store reports the %d records handed to it before the kill written" % appended)
    p.send_signal(signal.SIGKILL)
    p.wait()
    p, port = start(tmp2, sim)
    restored = trades_count(port, "AMZN")  # the day's count comes back with the state
    t_end = time.time() + 15
    while trades_count(port, "AMZN") < restored + 300 and time.time() < t_end:
        time.sleep(0.1)
    after, complete = page_all(port, 0, 9000000000000, 1000)
    check(complete and after[:len(before)] == before,
          "after kill -9 and restart the %d trades from before are served identically, from the store" % len(before))
    newer = [t for t in after if t["seq"] > before[-1]["seq"] + (1 << 32)]
    check(strictly_increasing(after) and len(newer) > 0,
          "then %d new trades with higher seq (seq never goes back), %d in all" % (len(newer), len(after)))
    p.send_signal(signal.SIGTERM)
    check(p.wait(timeout=20) == 0, "clean stop after the restart")
    shutil.rmtree(tmp2, ignore_errors=True)
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    shutil.rmtree(tmp, ignore_errors=True)
    return 0 if results["fail"] == 0 else 1


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
                pr.wait()
    sys.exit(rc)
