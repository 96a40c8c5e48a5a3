#!/usr/bin/env python3
"""test_tickd_crash.py: kill -9 the real tickd at random moments during ingest, many times, and check after each
restart that everything it had reported durable is there, in order, and nothing else is broken.

Round r runs build/tickd with a simulator feed of one symbol on two exchanges, paced at 30,000 events/s on its
own UTC day, no injected wire gaps, so each exchange's src_seq runs 1, 2, 3, ... with no hole; a random --fsync
policy; polls /metrics for tickd_store_written_total (records tickd reports in its files: what survives kill -9
under every policy) and SIGKILLs it at a random moment. The next round starts tickd on the same data directory (its store recovery cuts what the kill tore)
and, while it runs, checks the killed round with tickctl (read-only) and over REST:
  - per exchange, the round's stored events have src_seq exactly 1..m: a prefix of what was fed, in order, no
    hole, no duplicate;
  - the round's stored tick records (events, NBBO changes, resolved trades) are at least what tickd last
    reported written before the kill minus the candles it had closed by then (written counts a prefix of the
    records appended, candles included; a live sim's candles follow the wall clock, not the round's day);
  - seq never goes back: every stored seq of round r+1 is above every one of round r, and within a round it
    never decreases;
  - the restarted node answers /ticks over the killed round with strictly increasing seq, and /candles over
    all time with strictly increasing times (no candle stored twice across the restarts).
At the end tickd stops cleanly and `tickctl verify` finds every block whole.
Bounded: 6 rounds of 0.3-2.5 s of ingest (plus the previous round's check) each; about 30-40 s. Servers on
127.0.0.1, temp dirs; only the PIDs this test started are signalled."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_util import check, metrics, results, spawn_tickd  # noqa: E402

BUILD = os.environ.get("TD_BUILD_DIR", "build")
ROUNDS = 6
SYM = "CRA"
IVS = ("1s", "10s", "1m", "5m", "15m", "1h", "1d", "1w")  # candles closed within one scrape: at most these
DAY0 = 1767225600  # 2026-01-01 00:00 UTC: inside the default tick TTL, and --tick-ttl forever anyway
SEED = int(os.environ.get("TD_SEED", str(random.randrange(1 << 30))))


def feed(r):
    return "sim:symbols=%s;exchanges=XA,XB;rate=30000;gap_every=0;seed=%d;start=%d" % (SYM, 1000 + r,
                                                                                        DAY0 + r * 86400 + 3600)


def tickctl(*args):
    return subprocess.run([os.path.join(BUILD, "tickctl"), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, check=False)


def window(r):
    return (DAY0 + r * 86400) * 10**9, (DAY0 + (r + 1) * 86400) * 10**9 - 1


def export(data, r):
    lo, hi = window(r)
    p = tickctl("export", data, SYM, str(lo), str(hi))
    if p.returncode != 0:
        raise SystemExit("tickctl export: " + p.stderr)
    return [x.split(",") for x in p.stdout.splitlines()[1:]]


def get_json(port, path, empty):
    """The JSON answer, or `empty` for a 404 (a node that has never seen the symbol: nothing was stored)."""
    try:
        return json.loads(urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10).read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return empty
        raise


def check_round(data, port, r, durable):
    """Checks killed round r in data (and over the restarted node's REST API); returns (min seq, max seq)."""
    rows = export(data, r)
    events = [f for f in rows if f[4] not in ("NBBO", "TRADE_OUT")]
    by_exch = {}
    for f in events:
        by_exch.setdefault(f[5], []).append(int(f[3]))
    for x, seqs in sorted(by_exch.items()):
        check(seqs == list(range(1, len(seqs) + 1)),
              "round %d %s: the %d stored events are exactly the first ones fed (src_seq 1..%d, in order)"
              % (r, x, len(seqs), len(seqs)))
    written, closed = (durable["tickd_store_written_total"], durable["tickd_engine_candles_closed_total"]) \
        if durable else (None, None)
    # (a kill before the first flush, e.g. within --fsync off's first second, reported nothing written: then
    # nothing is owed, and the checks that need stored trades have nothing to look at)
    owed = written is not None and written > closed + len(IVS)
    if owed:
        check(len(by_exch) == 2, "round %d: events of both exchanges stored (%s)" % (r, sorted(by_exch)))
    else:
        print("     round %d: killed before anything was reported written (%d rows stored)" % (r, len(rows)))
    seq = [int(f[2]) for f in rows]
    check(all(seq[i] <= seq[i + 1] for i in range(len(seq) - 1)), "round %d: seq never decreases" % r)
    # written: records tickd reports in the files, what survives kill -9 under every --fsync policy (synced,
    # what survives power loss too, is at most that)
    check(written is not None and durable["tickd_store_synced_total"] <= written and
          len(rows) + closed + len(IVS) >= written,
          "round %d: %d tick records stored (%d events) >= %s reported written - %s candles closed before the kill"
          % (r, len(rows), len(events), written, closed))
    lo, hi = window(r)
    t = get_json(port, "/v1/prices/%s/ticks?from_ms=%d&to_ms=%d&limit=10000" % (SYM, lo // 10**6, hi // 10**6),
                 {"ticks": []})
    ts = [x["seq"] for x in t["ticks"]]
    check((len(ts) > 0 or not owed) and all(ts[i] < ts[i + 1] for i in range(len(ts) - 1)),
          "round %d: /ticks from the restarted node: %d trades, seq strictly increasing" % (r, len(ts)))
    c = get_json(port, "/v1/prices/%s/candles?interval=1s&from=0&limit=5000" % SYM, {"candles": []})
    ct = [x["time"] for x in c["candles"]]
    check((len(ct) > 0 or not owed) and all(ct[i] < ct[i + 1] for i in range(len(ct) - 1)),
          "after round %d: /candles from the restarted node: %d 1s candles, none twice" % (r, len(ct)))
    return (min(seq), max(seq)) if seq else None


def main():
    if not os.path.exists(os.path.join(BUILD, "tickctl")):
        print("skip: no tickctl in", BUILD)
        return 77
    rng = random.Random(SEED)
    print("seed", SEED, "(rerun with TD_SEED=%d)" % SEED)
    tmp = tempfile.mkdtemp(prefix="td_crash_")
    data = os.path.join(tmp, "data")
    procs = []
    try:
        prev = None  # (round, its last /metrics scrape, its seq range)
        for r in range(ROUNDS + 1):
            last = r == ROUNDS
            policy = rng.choice(["batch", "off", "5", "50"])
            extra = ["--tick-ttl", "forever", "--fsync", policy, "--feed",
                     feed(r) if not last else "sim:symbols=CRZ;rate=10"]  # the last node only serves the check
            p, port = spawn_tickd(BUILD, tmp, extra, procs)
            if prev is not None:  # the restarted node has recovered the store: check the round that was killed
                rng_seq = check_round(data, port, prev[0], prev[1])
                if prev[2] and rng_seq:
                    check(rng_seq[0] > prev[2][1], "round %d: its seqs (from %d) are above round %d's (to %d)"
                          % (prev[0], rng_seq[0], prev[0] - 1, prev[2][1]))
                prev = (prev[0], prev[1], rng_seq or prev[2])
            if last:
                break
            kill_at = time.monotonic() + rng.uniform(0.3, 2.5)
            scrape = None
            while time.monotonic() < kill_at:
                v = metrics(port, ("tickd_store_written_total", "tickd_store_synced_total",
                                   "tickd_engine_candles_closed_total"))
                if v is not None:
                    scrape = v
                time.sleep(0.05)
            p.send_signal(signal.SIGKILL)
            p.wait()
            print("round %d (--fsync %s): killed after %s" % (r, policy, scrape), flush=True)
            prev = (r, scrape, prev[2] if prev else None)
        p.send_signal(signal.SIGTERM)
        check(p.wait(timeout=30) == 0, "tickd stops cleanly after the last round")
        v = tickctl("verify", data)
        check(v.returncode == 0, "tickctl verify: every block whole after %d kills (%s)"
              % (ROUNDS, v.stdout.strip().splitlines()[-1:] if v.stdout.strip() else v.stderr.strip()[-200:]))
    finally:
        for q in procs:
            if q.poll() is None:
                q.kill()
                q.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    return 0 if results["fail"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
