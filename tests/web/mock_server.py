#!/usr/bin/python3
"""mock_server.py: a stand-in for tickd's REST + WebSocket API (../shared/API.md), for the browser tests
only, while the real API is not in the build. It serves web/dist like tickd does and speaks API.md's
messages from a simulator-like random walk: trades, NBBO (with a short "stale" gap now and then), book:10,
candles of every interval (closed:false while open, closed:true when the period ends).

Usage: /usr/bin/python3 tests/web/mock_server.py --port N [--root web/dist] [--rate 5000] [--seed 1]
Needs Debian's python3-websockets (10.x). Stops on SIGTERM/SIGINT.
"""
import argparse, asyncio, gzip, json, math, mimetypes, os, random, signal, sys, time
from http import HTTPStatus

import websockets

INTERVALS = {"1s": 1, "10s": 10, "1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400, "1w": 604800}
EXCHANGES = ["NYSE", "NASDAQ", "ARCA"]
SYMBOLS = {"AAPL": 185.40, "MSFT": 410.10, "AMZN": 178.25, "GOOGL": 141.80, "NVDA": 720.50, "TSLA": 195.30,
           "META": 480.75, "SPY": 505.20}
HISTORY = 600


def r2(x):
    return round(x + 1e-9, 2)


class Market:
    def __init__(self, seed, rate):
        self.rng = random.Random(seed)
        self.rate = rate
        self.seq = {s: 1 for s in SYMBOLS}
        self.px = dict(SYMBOLS)
        self.bars = {}  # (sym, iv) -> list of dict, last one open
        self.stale_until = {}
        self.msgs = 0
        self.gaps = 0
        self.last_msg = time.time()
        now = int(time.time())
        for sym, p0 in SYMBOLS.items():
            for iv, secs in INTERVALS.items():
                rng = random.Random(f"{seed}-{sym}-{iv}")
                t_open = now - now % secs
                bars, close = [], p0
                # walk backwards from the current price so the history ends where the live walk starts
                step = p0 * 0.0006 * secs ** 0.25
                for k in range(1, HISTORY + 1):
                    o = close - rng.gauss(0, step)
                    hi = max(o, close) + abs(rng.gauss(0, step / 2))
                    lo = min(o, close) - abs(rng.gauss(0, step / 2))
                    bars.append({"time": t_open - k * secs, "open": r2(o), "high": r2(hi), "low": r2(lo),
                                 "close": r2(close), "volume": int(rng.randint(100, 5000) * secs ** 0.5) * 10,
                                 "trade_count": rng.randint(5, 200)})
                    close = o
                bars.reverse()
                bars.append({"time": t_open, "open": r2(p0), "high": r2(p0), "low": r2(p0), "close": r2(p0),
                             "volume": 0, "trade_count": 0})
                self.bars[(sym, iv)] = bars

    def next_seq(self, sym):
        self.seq[sym] += 1
        return self.seq[sym]

    def step(self, dt):
        """Advance dt seconds; returns the list of messages per symbol: {sym: [msg...]}."""
        out = {s: [] for s in SYMBOLS}
        now = time.time()
        ms = int(now * 1000)
        n = max(1, int(self.rate * dt / len(SYMBOLS) / 4))  # trades per symbol this step
        for sym in SYMBOLS:
            for _ in range(n):
                p = self.px[sym]
                p = max(1.0, p + self.rng.gauss(0, p * 0.00002))
                self.px[sym] = p
                price = r2(p)
                size = self.rng.choice([100, 100, 200, 300, 500, 1000]) * self.rng.randint(1, 3)
                ex = self.rng.choice(EXCHANGES)
                bid, ask = r2(price - 0.01), r2(price + 0.01)
                out[sym].append({"type": "trade", "symbol": sym, "price": price, "size": size, "exchange": ex,
                                 "timestamp": ms, "seq": self.next_seq(sym)})
                out[sym].append({"type": "tick", "symbol": sym, "price": price, "bid": bid, "ask": ask, "volume": size,
                                 "exchange": ex, "timestamp": ms, "seq": self.next_seq(sym), "recv_ns": int(now * 1e9)})
                for iv, secs in INTERVALS.items():
                    bars = self.bars[(sym, iv)]
                    t = int(now) - int(now) % secs
                    b = bars[-1]
                    if t > b["time"]:
                        closed = dict(b, type="candle", symbol=sym, interval=iv, closed=True)
                        out[sym].append(closed)
                        b = {"time": t, "open": price, "high": price, "low": price, "close": price, "volume": 0, "trade_count": 0}
                        bars.append(b)
                        if len(bars) > HISTORY * 2:
                            del bars[:HISTORY]
                    b["high"] = max(b["high"], price)
                    b["low"] = min(b["low"], price)
                    b["close"] = price
                    b["volume"] += size
                    b["trade_count"] += 1
            # the in-progress candle of every interval (conflated: one per step)
            for iv in INTERVALS:
                b = self.bars[(sym, iv)][-1]
                out[sym].append(dict(b, type="candle", symbol=sym, interval=iv, closed=False))
            # a feed gap every ~45 s on some symbol, repaired 2 s later
            if self.rng.random() < dt / 45 / len(SYMBOLS) * 8 and sym not in self.stale_until:
                self.stale_until[sym] = now + 2
                self.gaps += 1
            stale = sym in self.stale_until
            if stale and now > self.stale_until[sym]:
                del self.stale_until[sym]
                stale = False
            out[sym].append(self.nbbo(sym, ms, "stale" if stale else None))
            out[sym].append(self.book(sym))
        self.msgs += sum(len(v) for v in out.values())
        self.last_msg = now
        return out

    def nbbo(self, sym, ms, state=None):
        p = self.px[sym]
        bid, ask = r2(p - 0.01), r2(p + 0.01)
        if state is None:
            state = "normal" if self.rng.random() > 0.05 else "locked"
            if state == "locked":
                ask = bid
        return {"type": "nbbo", "symbol": sym, "best_bid": bid, "best_ask": ask,
                "bid_size": self.rng.randint(1, 20) * 100, "ask_size": self.rng.randint(1, 20) * 100,
                "bid_exchange": self.rng.choice(EXCHANGES), "ask_exchange": self.rng.choice(EXCHANGES),
                "state": state, "timestamp": ms, "seq": self.next_seq(sym)}

    def book(self, sym):
        p = self.px[sym]
        mk = lambda k, sgn: {"price": r2(p + sgn * (0.01 + 0.01 * k)), "quantity": self.rng.randint(1, 40) * 100,
                             "exchange": self.rng.choice(EXCHANGES)}
        return {"type": "book", "symbol": sym, "bids": [mk(k, -1) for k in range(10)],
                "asks": [mk(k, +1) for k in range(10)], "seq": self.next_seq(sym)}


class Server:
    def __init__(self, args):
        self.args = args
        self.market = Market(args.seed, args.rate)
        self.clients = {}  # ws -> {sym: set(channels)}

    # ---- HTTP (everything that is not the WebSocket upgrade) ----
    def http(self, path, headers):
        if path.startswith("/v1/prices") and headers.get("Upgrade", "").lower() == "websocket":
            return None
        route, _, query = path.partition("?")
        q = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
        try:
            if route == "/healthz":
                return self.json({"status": "ok", "feeds": [{"name": "sim (mock)", "state": "live",
                                  "messages_per_sec": self.args.rate, "last_message_age_ms": int((time.time() - self.market.last_msg) * 1000),
                                  "gaps": self.market.gaps}]})
            if route == "/metrics":
                body = (f'tickd_feed_messages_total{{feed="sim"}} {self.market.msgs}\n'
                        f'tickd_feed_gaps_total{{feed="sim"}} {self.market.gaps}\n')
                return (HTTPStatus.OK, [("Content-Type", "text/plain; version=0.0.4")], body.encode())
            if route == "/v1/symbols":
                return self.json({"symbols": [{"symbol": s} for s in SYMBOLS]})
            parts = route.strip("/").split("/")
            if len(parts) >= 3 and parts[:2] == ["v1", "prices"]:
                sym = parts[2].upper()
                if sym not in SYMBOLS:
                    return self.error(404, "unknown_symbol", f"no symbol {sym}")
                if len(parts) == 4 and parts[3] == "candles":
                    iv = q.get("interval", "1m")
                    if iv not in INTERVALS:
                        return self.error(400, "bad_request", "interval must be one of " + ",".join(INTERVALS))
                    lo, hi = int(q.get("from", 0)), int(q.get("to", 2**62))
                    limit = min(int(q.get("limit", 1000)), 5000)
                    rows = [b for b in self.market.bars[(sym, iv)] if lo <= b["time"] <= hi][-limit:]
                    return self.json({"symbol": sym, "interval": iv, "candles": rows})
                if len(parts) == 3:
                    p = r2(self.market.px[sym])
                    return self.json({"symbol": sym, "price": p, "bid": r2(p - .01), "ask": r2(p + .01)})
            if route.startswith("/v1"):
                return self.error(404, "not_found", "no such route")
            return self.static(route, headers)
        except Exception as e:  # a mock: report, never crash
            return self.error(500, "internal", repr(e))

    def json(self, obj, status=200):
        return (HTTPStatus(status), [("Content-Type", "application/json"), ("Cache-Control", "no-cache")],
                json.dumps(obj, separators=(",", ":")).encode())

    def error(self, status, code, msg):
        return self.json({"error": {"code": code, "message": msg}}, status)

    def static(self, route, headers):
        root = os.path.realpath(self.args.root)
        rel = "index.html" if route in ("", "/") else route.lstrip("/")
        f = os.path.realpath(os.path.join(root, rel))
        if not f.startswith(root + os.sep) or not os.path.isfile(f):
            return self.error(404, "not_found", "no such file")
        ctype = mimetypes.guess_type(f)[0] or "application/octet-stream"
        hdrs = [("Content-Type", ctype), ("Cache-Control", "no-cache" if rel == "index.html" else "public, max-age=31536000, immutable")]
        if "gzip" in headers.get("Accept-Encoding", "") and os.path.isfile(f + ".gz"):
            f += ".gz"
            hdrs.append(("Content-Encoding", "gzip"))
        with open(f, "rb") as fh:
            return (HTTPStatus.OK, hdrs, fh.read())

    # ---- WebSocket ----
    async def ws(self, conn, path=None):
        subs = self.clients.setdefault(conn, {})
        try:
            async for raw in conn:
                try:
                    m = json.loads(raw)
                except ValueError:
                    await conn.send(json.dumps({"type": "error", "code": "bad_request", "message": "not JSON"}))
                    continue
                act = m.get("action")
                if act == "ping":
                    await conn.send('{"type":"pong"}')
                elif act in ("subscribe", "unsubscribe"):
                    syms = [str(s).upper() for s in m.get("symbols", [])]
                    chans = m.get("channels") or (["tick", "nbbo"] if act == "subscribe" else None)
                    bad = [s for s in syms if s not in SYMBOLS]
                    if bad:
                        await conn.send(json.dumps({"type": "error", "code": "unknown_symbol", "message": ",".join(bad)}))
                    syms = [s for s in syms if s in SYMBOLS]
                    if act == "subscribe":
                        for s in syms:
                            subs.setdefault(s, set()).update(chans)
                        await conn.send(json.dumps({"type": "subscribed", "symbols": syms, "channels": chans}))
                        snap = []
                        for s in syms:  # the snapshot first
                            snap.append(self.market.nbbo(s, int(time.time() * 1000), "stale" if s in self.market.stale_until else None))
                            if any(c.startswith("book") for c in chans):
                                snap.append(self.market.book(s))
                        if snap:
                            await conn.send(json.dumps(snap))
                    else:
                        for s in syms:
                            if chans:
                                subs.get(s, set()).difference_update(chans)
                            if not chans or not subs.get(s):
                                subs.pop(s, None)
                        await conn.send(json.dumps({"type": "unsubscribed", "symbols": syms}))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.clients.pop(conn, None)

    def wanted(self, subs, m):
        ch = subs.get(m["symbol"])
        if not ch:
            return False
        t = m["type"]
        if t == "candle":
            return "candle:" + m["interval"] in ch
        if t == "book":
            return any(c.startswith("book") for c in ch)
        return t in ch

    async def pump(self):
        dt, last = 0.05, time.monotonic()
        while True:
            await asyncio.sleep(dt)
            now = time.monotonic()
            out = self.market.step(now - last)
            last = now
            for conn, subs in list(self.clients.items()):
                batch = [m for msgs in out.values() for m in msgs if self.wanted(subs, m)]
                if batch:
                    try:
                        await conn.send(json.dumps(batch, separators=(",", ":")))
                    except websockets.ConnectionClosed:
                        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(__file__), "..", "..", "web", "dist"))
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    srv = Server(args)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with websockets.serve(srv.ws, args.host, args.port, process_request=srv.http, max_size=1 << 20):
        print(f"mock tickd listening on {args.host}:{args.port}", flush=True)
        pump = asyncio.ensure_future(srv.pump())
        await stop
        pump.cancel()


if __name__ == "__main__":
    asyncio.run(main())
