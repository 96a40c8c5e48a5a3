#!/usr/bin/python3
"""mock_exchange.py: a local stand-in for Binance (spot / USD-M futures) and Coinbase market data, for the
live-feed tests. It replays a cryptofeed recording from ../shared/data over WebSocket (ws:// or wss:// with
--cert/--key) and answers the REST calls a live handler makes, on the same port:

  Binance:  WS /stream + {"method":"SUBSCRIBE","params":[streams],"id":N} -> {"result":null,"id":N}, then the
            recorded frames of the subscribed streams. REST GET /api/v3/depth | /fapi/v1/depth?symbol=S
            -> a snapshot of the mock's own book NOW, and GET /api/v3/aggTrades | /fapi/v1/aggTrades
            ?symbol=S&fromId=N&limit=K -> the recorded aggTrades already "traded".
  Coinbase: WS any path + {"type":"subscribe","product_ids":[..],"channel(s)":..} -> "subscriptions", a
            "snapshot" per product from the mock's book, then the recorded frames of those products.

The exchange model: one position in the recording that advances only while a subscribed client is
connected (so a slow test never loses data it did not ask to lose); every frame, sent or not, is applied
to the mock's books (Binance: the recorded REST snapshot + the diffs that follow it, the U/u or pu rule;
Coinbase: snapshots and l2updates). So a snapshot taken at any time is exactly what the recorded stream
implies, and after any fault and resync a correct client ends with the same books as a replay of the whole
recording (tickctl recording-verify).

Faults (--faults "kind:index[:arg],..."; index = position in the recording's frames; each fires once, at the
first book frame (depthUpdate / l2update) of a subscribed symbol at or after index):
  skip:I         do not send that frame (a sequence gap for Binance)
  garbage:I      send truncated JSON instead of it, then a frame of non-JSON text, then an unknown type
  drop:I[:M]     abort the TCP connection there, and let M frames (default 20) pass while disconnected
  stall:I:S      send nothing for S seconds (connection left open)
  badframe:I     write bytes that are not a valid WebSocket frame (a protocol error)
  refuse:I:N     at that point close the connection and refuse the next N upgrade attempts with HTTP 503
  rest429:I:N    at that point (a skip of that frame, so the client needs a snapshot) answer the next N REST
                 calls with HTTP 429
Coinbase --cb-format advanced: the same recording re-encoded as Advanced Trade messages (channel l2_data with
"snapshot"/"update" events, market_trades; tickers are not sent) with a per-connection "sequence_num", so a
skip fault is a sequence_num gap the client must detect.
Control: GET /_mock/state -> {"pos","total","done","connections","faults_fired","snapshots_served", ...}.

Prints "PORT <n>" on stdout once listening. Runs until killed (the tests stop it by PID) or --max-seconds.
"""
import argparse
import asyncio
import json
import ssl
import sys
import time
import urllib.parse
from decimal import Decimal
from http import HTTPStatus

import websockets


def load_frames(path):
    frames = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            line = line.rstrip("\n")
            if not line or (n == 0 and " <-> " in line) or " <- " in line[:200]:
                continue
            ts, _, js = line.partition(": ")
            try:
                obj = json.loads(js)
            except ValueError:
                continue
            frames.append((js, obj))
    return frames


def load_snapshots(path):
    snaps = {}
    if not path:
        return snaps
    with open(path, encoding="utf-8") as f:
        for line in f:
            if " -> " not in line:
                continue
            url, _, rest = line.partition(" -> ")
            _, _, js = rest.partition(": ")
            q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
            if "/depth" not in url or "symbol" not in q:
                continue
            sym = q["symbol"][0].upper()
            if sym not in snaps:
                snaps[sym] = json.loads(js)
    return snaps


def is_zero(s):
    return Decimal(s) == 0


class Book:
    def __init__(self):
        self.bids, self.asks = {}, {}

    def set(self, side, px, qty):
        d = self.bids if side == "b" else self.asks
        if is_zero(qty):
            d.pop(px, None)
        else:
            d[px] = qty

    def levels(self, side):
        d = self.bids if side == "b" else self.asks
        return [[p, d[p]] for p in sorted(d, key=Decimal, reverse=(side == "b"))]


class Exchange:
    def __init__(self, a):
        self.kind = a.kind
        self.futures = a.kind == "binance-futures"
        self.frames = load_frames(a.ws_file)
        self.pos = 0
        self.books = {}
        self.synced = {}
        self.L = {}
        self.aggtrades = {}       # sym -> [(pos, data)]
        if self.kind.startswith("binance"):
            for sym, s in load_snapshots(a.http_file).items():
                b = Book()
                for px, q in s["bids"]:
                    b.set("b", px, q)
                for px, q in s["asks"]:
                    b.set("a", px, q)
                self.books[sym], self.L[sym], self.synced[sym] = b, s["lastUpdateId"], False
                self.recorded = getattr(self, "recorded", {})
                self.recorded[sym] = s
        self.faults = []
        for spec in filter(None, (a.faults or "").split(",")):
            parts = spec.split(":")
            self.faults.append({"kind": parts[0], "at": int(parts[1]), "arg": parts[2] if len(parts) > 2 else None,
                                "fired": False})
        self.refuse = 0
        self.rest429 = 0
        self.rest429_served = 0
        self.current = None
        self.connections = 0
        self.faults_fired = []
        self.snapshots_served = 0
        self.rate = a.rate
        self.cb_advanced = a.cb_format == "advanced"

    # ---- the book model ----
    def frame_key(self, obj):
        """(symbol or product, is_book_frame, stream name or product)"""
        if self.kind.startswith("binance"):
            d = obj.get("data", obj)
            return d.get("s", "").upper(), d.get("e") == "depthUpdate", obj.get("stream", "")
        t = obj.get("type")
        return obj.get("product_id", ""), t == "l2update", obj.get("product_id", "")

    def apply(self, obj):
        if self.kind.startswith("binance"):
            d = obj.get("data", obj)
            if d.get("e") == "aggTrade":
                self.aggtrades.setdefault(d["s"].upper(), []).append(d)
            if d.get("e") != "depthUpdate":
                return
            sym = d["s"].upper()
            if sym not in self.books:
                return
            U, u, L = d["U"], d["u"], self.L[sym]
            if not self.synced[sym]:
                if (u < L) if self.futures else (u <= L):
                    return
                if U > (L if self.futures else L + 1):
                    return  # cannot bridge: stays on the recorded snapshot (never happens in the recordings)
                self.synced[sym] = True
            b = self.books[sym]
            for px, q in d["b"]:
                b.set("b", px, q)
            for px, q in d["a"]:
                b.set("a", px, q)
            self.L[sym] = u
            self.last_E = d.get("E", 0)
            self.last_T = d.get("T", 0)
        else:
            t, p = obj.get("type"), obj.get("product_id")
            if t == "snapshot":
                b = Book()
                for px, q in obj["bids"]:
                    b.set("b", px, q)
                for px, q in obj["asks"]:
                    b.set("a", px, q)
                self.books[p] = b
            elif t == "l2update" and p in self.books:
                for side, px, q in obj["changes"]:
                    self.books[p].set("b" if side == "buy" else "a", px, q)

    def depth_snapshot(self, sym):
        if sym not in self.books:
            return None
        if not self.synced[sym]:
            return self.recorded[sym]  # the stream has not reached it yet: the recorded one is "from the future"
        b = self.books[sym]
        s = {"lastUpdateId": self.L[sym]}
        if self.futures:
            s["E"], s["T"] = getattr(self, "last_E", 0), getattr(self, "last_T", 0)
        s["bids"], s["asks"] = b.levels("b"), b.levels("a")
        return s


ex = None


def http_json(obj, status=HTTPStatus.OK):
    body = json.dumps(obj, separators=(",", ":")).encode()
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")], body


async def process_request(path, headers):
    u = urllib.parse.urlparse(path)
    q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query).items()}
    if ex.rest429 > 0 and u.path.startswith(("/api/", "/fapi/")):
        ex.rest429 -= 1
        ex.rest429_served += 1
        return http_json({"code": -1003, "msg": "Too many requests."}, HTTPStatus.TOO_MANY_REQUESTS)
    if u.path in ("/api/v3/depth", "/fapi/v1/depth"):
        s = ex.depth_snapshot(q.get("symbol", "").upper())
        if s is None:
            return http_json({"code": -1121, "msg": "Invalid symbol."}, HTTPStatus.BAD_REQUEST)
        ex.snapshots_served += 1
        return http_json(s)
    if u.path in ("/api/v3/aggTrades", "/fapi/v1/aggTrades"):
        sym, from_id, limit = q.get("symbol", "").upper(), int(q.get("fromId", 0)), int(q.get("limit", 500))
        out = []
        for d in ex.aggtrades.get(sym, []):
            if d["a"] >= from_id and len(out) < limit:
                r = {"a": d["a"], "p": d["p"], "q": d["q"], "f": d["f"], "l": d["l"], "T": d["T"], "m": d["m"]}
                if not ex.futures:
                    r["M"] = True
                out.append(r)
        return http_json(out)
    if u.path == "/_mock/state":
        return http_json({"pos": ex.pos, "total": len(ex.frames), "done": ex.pos >= len(ex.frames),
                          "connections": ex.connections, "faults_fired": ex.faults_fired,
                          "snapshots_served": ex.snapshots_served, "refusing": ex.refuse,
                          "rest429_served": ex.rest429_served})
    if u.path.startswith("/_mock/"):
        return http_json({"error": "unknown control"}, HTTPStatus.NOT_FOUND)
    if ex.refuse > 0:
        ex.refuse -= 1
        return HTTPStatus.SERVICE_UNAVAILABLE, [("Connection", "close"), ("Content-Length", "0")], b""
    return None


class Conn:
    def __init__(self, ws):
        self.ws = ws
        self.streams = set()
        self.products = set()
        self.subscribed = False
        self.seq = 0


def cb_encode(c, obj, skip=False):
    """A Coinbase message for this connection: legacy text as is, or re-encoded as Advanced Trade with the
    connection's next sequence_num (consumed even when skip: that is the gap). None = not sent."""
    if not ex.cb_advanced:
        return None if skip else json.dumps(obj, separators=(",", ":"))
    t, p = obj.get("type"), obj.get("product_id")
    ts = obj.get("time", "2021-04-17T16:43:37.000000Z")
    if t == "snapshot":
        ups = [{"side": "bid", "event_time": ts, "price_level": px, "new_quantity": q} for px, q in obj["bids"]]
        ups += [{"side": "offer", "event_time": ts, "price_level": px, "new_quantity": q} for px, q in obj["asks"]]
        ch, events = "l2_data", [{"type": "snapshot", "product_id": p, "updates": ups}]
    elif t == "l2update":
        ups = [{"side": "bid" if sd == "buy" else "offer", "event_time": ts, "price_level": px, "new_quantity": q}
               for sd, px, q in obj["changes"]]
        ch, events = "l2_data", [{"type": "update", "product_id": p, "updates": ups}]
    elif t in ("match", "last_match"):
        ch, events = "market_trades", [{"type": "update", "trades": [{
            "trade_id": str(obj["trade_id"]), "product_id": p, "price": obj["price"], "size": obj["size"],
            "side": obj["side"].upper(), "time": ts}]}]
    elif t == "subscriptions":
        ch, events = "subscriptions", [{"subscriptions": {}}]
    else:
        return None
    seq = c.seq
    c.seq += 1
    if skip:
        return None
    return json.dumps({"channel": ch, "client_id": "", "timestamp": ts, "sequence_num": seq, "events": events},
                      separators=(",", ":"))


async def reader(c):
    async for msg in c.ws:
        try:
            m = json.loads(msg)
        except ValueError:
            continue
        if ex.kind.startswith("binance"):
            if m.get("method") == "SUBSCRIBE":
                c.streams.update(m.get("params", []))
                await c.ws.send(json.dumps({"result": None, "id": m.get("id")}))
                c.subscribed = True
        elif m.get("type") == "subscribe":
            new = [p for p in m.get("product_ids", []) if p not in c.products]
            chans = m.get("channels") or [m.get("channel")]
            txt = cb_encode(c, {"type": "subscriptions", "channels": [{"name": ch, "product_ids": m.get("product_ids", [])} for ch in chans if ch]})
            if txt:
                await c.ws.send(txt)
            c.products.update(new)
            for p in new:
                if p in ex.books:
                    b = ex.books[p]
                    txt = cb_encode(c, {"type": "snapshot", "product_id": p, "bids": b.levels("b"), "asks": b.levels("a")})
                    if txt:
                        await c.ws.send(txt)
            c.subscribed = True


def wanted(c, obj):
    if ex.kind.startswith("binance"):
        return obj.get("stream") in c.streams
    t = obj.get("type")
    if t in ("subscribe", "subscriptions"):
        return False
    return obj.get("product_id") in c.products


async def handler(ws, *args):
    c = Conn(ws)
    ex.current = c
    ex.connections += 1
    rd = asyncio.ensure_future(reader(c))
    per_tick = max(1, ex.rate // 1000)
    sent = 0
    try:
        while ex.current is c and not ws.closed:
            if not c.subscribed or ex.pos >= len(ex.frames):
                await asyncio.sleep(0.005)
                continue
            js, obj = ex.frames[ex.pos]
            sym, is_book, _ = ex.frame_key(obj)
            send = wanted(c, obj)
            fault = None
            if send and is_book:
                for f in ex.faults:
                    if not f["fired"] and ex.pos >= f["at"]:
                        f["fired"] = True
                        fault = f
                        ex.faults_fired.append({"kind": f["kind"], "pos": ex.pos, "sym": sym})
                        break
            if fault and fault["kind"] == "stall":
                fault["kind"] = "stalled"
                await asyncio.sleep(float(fault["arg"] or 3))
                continue  # the frame is sent afterwards if the client is still there
            ex.apply(obj)
            ex.pos += 1
            if not ex.kind.startswith("binance") and send:
                js = cb_encode(c, obj, skip=fault is not None and fault["kind"] == "skip")
                send = js is not None
            if fault is None:
                if send:
                    await ws.send(js)
            elif fault["kind"] == "skip":
                pass
            elif fault["kind"] == "rest429":
                ex.rest429 = int(fault["arg"] or 1)  # and the frame is skipped: a gap that needs REST
            elif fault["kind"] == "garbage":
                await ws.send(js[: len(js) // 2])
                await ws.send("garbage !!! not json at all")
                await ws.send('{"stream":"x@weird","data":{"e":"weirdEvent","E":1}}' if ex.kind.startswith("binance")
                              else '{"type":"weird_type","product_id":"X"}')
            elif fault["kind"] == "badframe":
                ws.transport.write(b"\x8f\x05hello")  # reserved opcode 0xF
                await asyncio.sleep(0.2)
            elif fault["kind"] in ("drop", "refuse"):
                if fault["kind"] == "refuse":
                    ex.refuse = int(fault["arg"] or 3)
                    miss = 0
                else:
                    miss = int(fault["arg"] or 20)
                ws.transport.abort()
                for _ in range(miss):  # what happened while the client was away
                    if ex.pos < len(ex.frames):
                        ex.apply(ex.frames[ex.pos][1])
                        ex.pos += 1
                break
            sent += 1
            if sent % per_tick == 0:
                await asyncio.sleep(0.001)
    except websockets.ConnectionClosed:
        pass
    finally:
        rd.cancel()


async def main():
    global ex
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True, choices=["binance-spot", "binance-futures", "coinbase"])
    ap.add_argument("--ws-file", required=True)
    ap.add_argument("--http-file")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--faults", default="")
    ap.add_argument("--rate", type=int, default=2000, help="frames per second")
    ap.add_argument("--max-seconds", type=float, default=120)
    ap.add_argument("--cb-format", default="legacy", choices=["legacy", "advanced"])
    a = ap.parse_args()
    ex = Exchange(a)
    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
    async with websockets.serve(handler, "127.0.0.1", a.port, process_request=process_request, ssl=ctx,
                                compression=None, max_size=1 << 20) as server:
        port = server.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        await asyncio.sleep(a.max_seconds)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    sys.exit(0)
