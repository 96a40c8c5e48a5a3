#!/usr/bin/env python3
"""test_api_ws.py: the WebSocket stream of API.md with a real client (python3-websockets) against build/tickd
on a free port: subscribe (reply, snapshot first, then updates), seq only grows per symbol across many
clients, unsubscribe (nothing after the reply), ping/pong with id, bad JSON / unknown action / unknown symbol
/ bad channel / too many subscriptions answered with error messages on a connection that keeps working,
bad frames (unmasked, bad UTF-8) closed with 1002/1007 while the server stays healthy, batching (JSON
arrays), the conflated tier, subscribe-at-connect from the URL, and the MessagePack encoding (same messages,
at least 3x smaller). Every wait is bounded; tickd is stopped by PID."""
import asyncio, base64, json, os, socket, struct, subprocess, sys, tempfile, time, urllib.request

import websockets
from e2e_util import free_port

BUILD = os.environ.get("TD_BUILD_DIR", "build")
SYMS = ["AAPL", "MSFT", "TSLA", "SPY"]
results = {"pass": 0, "fail": 0}


def ok(what):
    results["pass"] += 1
    print("ok  ", what, flush=True)


def bad(what):
    results["fail"] += 1
    print("FAIL", what, flush=True)


def check(cond, what):
    (ok if cond else bad)(what)


def start_tickd(extra=()):
    tmp = tempfile.mkdtemp()
    for _ in range(3):
        port = free_port()
        log = open(os.path.join(tmp, "log"), "w+")
        feed = [] if "--feed" in extra else ["--feed", "sim:symbols=%s;rate=20000" % ",".join(SYMS)]
        p = subprocess.Popen([os.path.join(BUILD, "tickd"), "--listen", "127.0.0.1:%d" % port, "--data-dir",
                              os.path.join(tmp, "data"), "--status-interval", "0", *feed, *extra],
                             stdout=log, stderr=subprocess.STDOUT)
        for _ in range(200):
            log.seek(0)
            if "listening on" in log.read() or p.poll() is not None:
                break
            time.sleep(0.05)
        log.seek(0)
        if "listening on" in log.read():
            return p, port
        p.kill()
        p.wait()
    raise SystemExit("tickd did not start")


def stop(p):
    p.terminate()
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc


async def recv_json(ws, timeout=10):
    m = await asyncio.wait_for(ws.recv(), timeout)
    return json.loads(m)


async def until(ws, pred, timeout=10):
    """Messages until pred(msg) is true; returns (msg, earlier messages)."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise asyncio.TimeoutError("waited %ss; last: %s" % (timeout, seen[-3:]))
        m = await recv_json(ws, left)
        if pred(m):
            return m, seen
        seen.append(m)


def flat(m):
    return m if isinstance(m, list) else [m]


async def test_subscribe(port):
    url = "ws://127.0.0.1:%d/v1/prices" % port
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["aapl", "MSFT"],
                                  "channels": ["tick", "nbbo", "trade", "candle:1s", "book:5"], "id": "s1"}))
        m = await recv_json(ws)
        check(m == {"type": "subscribed", "symbols": ["AAPL", "MSFT"],
                    "channels": ["tick", "nbbo", "trade", "candle:1s", "book:5"], "id": "s1"}, "subscribed reply: %s" % m)
        msgs = []
        while len(msgs) < 400:
            msgs.append(await recv_json(ws))
        for sym in ("AAPL", "MSFT"):
            mine = [x for x in msgs if x.get("symbol") == sym]
            snaps = [x for x in mine if x.get("snapshot")]
            first_update = next(i for i, x in enumerate(mine) if not x.get("snapshot"))
            check(all(x.get("snapshot") for x in mine[:first_update]) and
                  not any(x.get("snapshot") for x in mine[first_update:]), "%s: snapshot first, then updates" % sym)
            check({"tick", "nbbo", "book"} <= {x["type"] for x in snaps}, "%s snapshot has tick, nbbo, book: %s" %
                  (sym, sorted({x["type"] for x in snaps})))
            seqs = [x["seq"] for x in mine]
            check(all(a <= b for a, b in zip(seqs, seqs[1:])), "%s: seq never decreases" % sym)
            # one TRADE record is both a tick and a trade message (same seq): strict per message type
            good = True
            for typ in ("tick", "trade", "nbbo", "book"):
                upd = [x["seq"] for x in mine[first_update:] if x["type"] == typ]
                good &= all(a < b for a, b in zip(upd, upd[1:])) and (not upd or upd[0] > seqs[0])
            check(good, "%s: updates of each type strictly after the snapshot seq" % sym)
            books = [x for x in mine if x["type"] == "book"]
            check(books and all(len(b["bids"]) <= 5 and len(b["asks"]) <= 5 for b in books), "%s book:5 depth" % sym)
        types = {x["type"] for x in msgs}
        check({"tick", "nbbo", "trade"} <= types, "update types seen: %s" % sorted(types))
        tick = next(x for x in msgs if x["type"] == "tick" and not x.get("snapshot"))
        check(set(tick) >= {"symbol", "price", "bid", "ask", "volume", "exchange", "timestamp", "seq", "recv_ns"},
              "tick fields: %s" % sorted(tick))
        check(isinstance(tick["recv_ns"], int) and tick["recv_ns"] > 10**18, "recv_ns in ns")

        # unsubscribe: nothing of MSFT after the reply
        await ws.send(json.dumps({"action": "unsubscribe", "symbols": ["MSFT"]}))
        m, _ = await until(ws, lambda x: x.get("type") == "unsubscribed")
        check(m["symbols"] == ["MSFT"], "unsubscribed reply: %s" % m)
        after = [await recv_json(ws) for _ in range(200)]
        check(not any(x.get("symbol") == "MSFT" for x in after), "no MSFT after unsubscribe")
        check(any(x.get("symbol") == "AAPL" for x in after), "AAPL still flowing")

        # ping, errors, and the connection keeps working
        await ws.send('{"action":"ping","id":42}')
        m, _ = await until(ws, lambda x: x.get("type") == "pong")
        check(m.get("id") == 42, "pong echoes id")
        for text, code in [('{"action": "subscribe", "symbols": [', "bad_json"),
                           ("not json", "bad_json"),
                           ('[1,2]', "bad_json"),
                           ('{"action":"subscribe","symbols":["AAPL"]} x', "bad_json"),
                           ('{"action":"dance"}', "unknown_action"),
                           ('{"symbols":["AAPL"]}', "bad_request"),
                           ('{"action":"subscribe","symbols":["NOSUCH"]}', "unknown_symbol"),
                           ('{"action":"subscribe","symbols":["AAPL"],"channels":["weather"]}', "bad_request"),
                           ('{"action":"subscribe","symbols":["AAPL"],"channels":["book:500"]}', "bad_request"),
                           ('{"action":"subscribe","symbols":["AAPL"],"tier":"gold"}', "bad_request"),
                           ('{"action":"subscribe","symbols":"%s"}' % ("X" * 40), "bad_request")]:
            await ws.send(text)
            m, _ = await until(ws, lambda x: x.get("type") == "error")
            check(m.get("code") == code and m.get("message"), "%r -> error %s (%s)" % (text[:40], code, m.get("message")))
        await ws.send('{"action":"ping"}')
        m, _ = await until(ws, lambda x: x.get("type") == "pong")
        ok("connection healthy after errors")


async def test_candles(port):
    async with websockets.connect("ws://127.0.0.1:%d/v1/prices" % port) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"], "channels": ["candle:1s"]}))
        await until(ws, lambda x: x.get("type") == "subscribed")
        closed, opened, seqs = {}, {}, []
        while len(closed) < 3:
            m = await recv_json(ws, 15)
            check(m.get("type") == "candle", "candle channel sends only candles") if m.get("type") != "candle" else None
            seqs.append(m["seq"])
            if m.get("snapshot"):
                continue
            if m["closed"]:
                closed[m["time"]] = m
            else:
                if m["time"] in closed:
                    bad("open candle %d after it closed" % m["time"])
                opened.setdefault(m["time"], []).append(m["trade_count"])
        check(sum(len(v) for v in opened.values()) > 1, "open candle updates while it fills: %s" % opened)
        check(all(a <= b for a, b in zip(seqs, seqs[1:])), "candle seq never decreases")
        for t, m in closed.items():
            counts = opened.get(t, [])
            check(all(c <= m["trade_count"] for c in counts), "updates of %d never exceed its close" % t)


async def test_many_clients(port, n=20, per_client=300):
    url = "ws://127.0.0.1:%d/v1/prices" % port

    async def one(i):
        syms = [SYMS[i % 4], SYMS[(i + 1) % 4], SYMS[(i + 2) % 4]]
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"action": "subscribe", "symbols": syms}))
            await until(ws, lambda x: x.get("type") == "subscribed")
            last = {}
            got = 0
            while got < per_client:
                m = await recv_json(ws)
                s = m.get("symbol")
                if s is None:
                    continue
                if s in last and m["seq"] < last[s]:
                    return "client %d: %s seq %d after %d" % (i, s, m["seq"], last[s])
                last[s] = m["seq"]
                got += 1
            return None

    errs = [e for e in await asyncio.gather(*(one(i) for i in range(n))) if e]
    check(not errs, "%d clients: seq only grows per symbol %s" % (n, errs[:3]))


async def test_batching_and_tiers(port):
    base = "ws://127.0.0.1:%d/v1/prices" % port
    async with websockets.connect(base + "?batch_ms=100") as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": SYMS}))
        await until(ws, lambda x: x.get("type") == "subscribed")
        arrays, items, last = 0, 0, {}
        ordered = True
        while items < 500:
            m = await recv_json(ws)
            if isinstance(m, list):
                arrays += 1
                items += len(m)
                for x in m:
                    s = x.get("symbol")
                    if s in last and x["seq"] < last[s]:
                        ordered = False
                    last[s] = x["seq"]
        check(arrays > 0 and items / arrays > 2, "batch_ms=100: frames are JSON arrays (%d items in %d frames)" % (items, arrays))
        check(ordered, "batched: seq only grows")

    async def count(url, sub, seconds_msgs):
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps(sub))
            await until(ws, lambda x: x.get("type") == "subscribed")
            msgs = []
            t_end = time.monotonic() + seconds_msgs
            while time.monotonic() < t_end:
                try:
                    m = await asyncio.wait_for(ws.recv(), max(0.01, t_end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                msgs.extend(flat(json.loads(m)))
            return msgs

    sub = {"action": "subscribe", "symbols": SYMS, "channels": ["tick", "nbbo"]}
    full, confl = await asyncio.gather(count(base, sub, 2.0), count(base + "?tier=conflated&interval_ms=200", sub, 2.0))
    upd = [x for x in confl if not x.get("snapshot")]
    check(upd and all(x.get("conflated") for x in upd), "conflated tier: updates flagged conflated (%d)" % len(upd))
    check(len(upd) * 3 < len(full), "conflated tier sends far fewer (%d vs %d full)" % (len(upd), len(full)))
    last, good = {}, True
    for x in confl:
        k = x.get("symbol")
        if k in last and x["seq"] < last[k]:
            good = False
        last[k] = x["seq"]
    check(good, "conflated: seq only grows")
    # at most one update per (symbol, type) per interval: no two within the same flush
    per = {}
    for x in upd:
        per.setdefault((x["symbol"], x["type"]), []).append(x["seq"])
    check(all(len(v) <= 2.0 / 0.2 + 3 for v in per.values()), "conflated: about one per interval per symbol/type")

    # the tier set by message
    async with websockets.connect(base) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"], "tier": "conflated", "interval_ms": 100}))
        await until(ws, lambda x: x.get("type") == "subscribed")
        m, _ = await until(ws, lambda x: not x.get("snapshot") and x.get("type") in ("tick", "nbbo"))
        check(m.get("conflated") is True, "tier set by subscribe message")

    # subscribe at connect from the URL
    async with websockets.connect(base + "?symbols=tsla,SPY&channels=nbbo") as ws:
        m = await recv_json(ws)
        check(m.get("type") == "subscribed" and m["symbols"] == ["TSLA", "SPY"] and m["channels"] == ["nbbo"],
              "subscribe from the URL: %s" % m)
        msgs = [await recv_json(ws) for _ in range(20)]
        check(all(x["type"] == "nbbo" for x in msgs), "URL channels honored")


def mp_decode(b, i=0):
    """A minimal MessagePack decoder (the types tickd sends)."""
    t = b[i]
    if t <= 0x7f: return t, i + 1
    if t >= 0xe0: return t - 256, i + 1
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        if t <= 0x8f: n, i = t & 15, i + 1
        elif t == 0xde: n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else: n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        d = {}
        for _ in range(n):
            k, i = mp_decode(b, i)
            v, i = mp_decode(b, i)
            d[k] = v
        return d, i
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        if t <= 0x9f: n, i = t & 15, i + 1
        elif t == 0xdc: n, i = struct.unpack(">H", b[i + 1:i + 3])[0], i + 3
        else: n, i = struct.unpack(">I", b[i + 1:i + 5])[0], i + 5
        a = []
        for _ in range(n):
            v, i = mp_decode(b, i)
            a.append(v)
        return a, i
    if 0xa0 <= t <= 0xbf: n = t & 31; return b[i + 1:i + 1 + n].decode(), i + 1 + n
    if t == 0xd9: n = b[i + 1]; return b[i + 2:i + 2 + n].decode(), i + 2 + n
    if t == 0xda: n = struct.unpack(">H", b[i + 1:i + 3])[0]; return b[i + 3:i + 3 + n].decode(), i + 3 + n
    if t == 0xc0: return None, i + 1
    if t == 0xc2: return False, i + 1
    if t == 0xc3: return True, i + 1
    fmt = {0xcc: ">B", 0xcd: ">H", 0xce: ">I", 0xcf: ">Q", 0xd0: ">b", 0xd1: ">h", 0xd2: ">i", 0xd3: ">q"}[t]
    n = struct.calcsize(fmt)
    return struct.unpack(fmt, b[i + 1:i + 1 + n])[0], i + 1 + n


def dec(m, e):
    """(mantissa, exponent) -> the decimal string JSON prints"""
    from decimal import Decimal
    v = Decimal(m).scaleb(e).normalize()
    s = format(v, "f")
    return s


async def test_msgpack(port):
    base = "ws://127.0.0.1:%d/v1/prices" % port
    sub = json.dumps({"action": "subscribe", "symbols": ["AAPL"], "channels": ["tick"]})
    async with websockets.connect(base + "?encoding=msgpack") as mp, websockets.connect(base) as js:
        await mp.send(sub)
        await js.send(sub)
        m, _ = mp_decode(await asyncio.wait_for(mp.recv(), 10))
        check(m.get("type") == "subscribed", "msgpack control message is a map: %s" % m)
        await until(js, lambda x: x.get("type") == "subscribed")
        jticks, mticks = {}, {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(set(jticks) & set(mticks)) < 100:
            a = await asyncio.wait_for(js.recv(), 10)
            x = json.loads(a)
            if x.get("type") == "tick" and not x.get("snapshot"):
                jticks[x["seq"]] = (x, len(a))
            b = await asyncio.wait_for(mp.recv(), 10)
            check(isinstance(b, bytes), "msgpack frames are binary") if not mticks else None
            y, _ = mp_decode(b)
            if isinstance(y, list) and y[0] == 1 and not (y[12] & 2):
                mticks[y[2]] = (y, len(b))
        common = sorted(set(jticks) & set(mticks))
        check(len(common) >= 50, "the same ticks on both encodings (%d)" % len(common))
        same = True
        for s in common:
            x, y = jticks[s][0], mticks[s][0]
            if (y[1] != x["symbol"] or dec(y[3], y[6]) != format(__import__("decimal").Decimal(str(x["price"])).normalize(), "f")
                    or y[9] != x["exchange"] or y[10] != x["timestamp"] or y[10] * 10**6 + y[11] != x["recv_ns"]):
                same = False
                print("  differs:", x, y)
                break
        check(same, "msgpack tick carries the same values as the JSON tick")
        js_bytes = sum(jticks[s][1] for s in common)
        mp_bytes = sum(mticks[s][1] for s in common)
        ratio = js_bytes / max(1, mp_bytes)
        print("  tick payload: JSON %.1f B, msgpack %.1f B, ratio %.2fx" % (js_bytes / len(common), mp_bytes / len(common), ratio))
        check(ratio >= 3.0, "msgpack at least 3x smaller than JSON (%.2fx)" % ratio)


def raw_ws(port, path="/v1/prices"):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, key)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    return s, buf


def read_close_code(s, timeout=10):
    s.settimeout(timeout)
    buf = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    i = buf.find(b"\r\n\r\n") + 4 if b"HTTP/1.1 101" in buf else 0
    while i + 2 <= len(buf):
        op, ln = buf[i] & 15, buf[i + 1] & 127
        h = 2
        if ln == 126: ln, h = struct.unpack(">H", buf[i + 2:i + 4])[0], 4
        elif ln == 127: ln, h = struct.unpack(">Q", buf[i + 2:i + 10])[0], 10
        if op == 8:
            return struct.unpack(">H", buf[i + h:i + h + 2])[0]
        i += h + ln
    return None


def masked(op, payload, fin=True):
    mask = os.urandom(4)
    hdr = bytes([(0x80 if fin else 0) | op])
    n = len(payload)
    hdr += bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n)
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def test_bad_frames(port):
    s, head = raw_ws(port)
    check(b" 101 " in head, "raw handshake")
    s.sendall(b"\x81\x05hello")  # unmasked client frame
    check(read_close_code(s) == 1002, "unmasked frame -> close 1002")
    s.close()
    s, _ = raw_ws(port)
    s.sendall(masked(1, b'{"action":"\xff\xfe"}'))
    check(read_close_code(s) == 1007, "bad UTF-8 -> close 1007")
    s.close()
    s, head = raw_ws(port, "/v1/nowhere")
    check(b" 404 " in head, "upgrade on an unknown path -> 404")
    s.close()
    s, head = raw_ws(port, "/v1/prices?encoding=xml")
    check(b" 400 " in head, "unknown encoding -> 400")
    s.close()
    with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=10) as r:
        check(r.status == 200, "server healthy after bad frames")


async def test_too_many(port):
    async with websockets.connect("ws://127.0.0.1:%d/v1/prices" % port) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": SYMS[:3]}))
        await until(ws, lambda x: x.get("type") == "subscribed")
        await ws.send(json.dumps({"action": "subscribe", "symbols": [SYMS[3]]}))
        m, _ = await until(ws, lambda x: x.get("type") == "error")
        check(m["code"] == "too_many_subscriptions", "too many subscriptions: %s" % m)
        await ws.send('{"action":"ping"}')
        await until(ws, lambda x: x.get("type") == "pong")
        ok("connection healthy after too_many_subscriptions")


async def test_catchup(port):
    """tickd drains its ring only once a second here, so each drain is far behind: catch-up mode."""
    async with websockets.connect("ws://127.0.0.1:%d/v1/prices" % port, max_size=2**22) as ws:
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL", "MSFT"],
                                  "channels": ["tick", "trade", "nbbo", "book:5", "candle:1s"]}))
        await until(ws, lambda x: x.get("type") == "subscribed", 20)
        msgs = [await recv_json(ws, 20) for _ in range(40)]
    last, good = {}, True
    for m in msgs:
        if m.get("snapshot"):
            continue
        k = (m["symbol"], m["type"], m.get("closed"))
        if k in last and m["seq"] <= last[k] and not (m["type"] == "candle" and not m["closed"]):
            good = False
        last[k] = m["seq"]
    check(good, "catch-up: seq only grows per symbol and type")
    check(any(m.get("conflated") for m in msgs), "catch-up deliveries are flagged conflated")
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    n = int(next(l.split()[1] for l in text.splitlines() if l.startswith("tickd_catchup_drains_total")))
    check(n >= 1, "catch-up drains counted (%d)" % n)


async def main_async(port, port2):
    await test_subscribe(port)
    await test_candles(port)
    await test_many_clients(port)
    await test_batching_and_tiers(port)
    await test_msgpack(port)
    test_bad_frames(port)
    await test_too_many(port2)
    p3, port3 = start_tickd(["--coalesce-us", "1000000", "--threads", "1", "--feed", "sim:symbols=AAPL,MSFT;rate=100000"])
    try:
        await test_catchup(port3)
    finally:
        check(stop(p3) == 0, "third tickd exits 0")


def main():
    p, port = start_tickd()
    p2, port2 = start_tickd(["--max-subscriptions", "3", "--threads", "1"])
    try:
        asyncio.run(asyncio.wait_for(main_async(port, port2), 240))
    except Exception as e:  # a timeout or a protocol error is a failure, not a hang
        bad("exception: %r" % (e,))
    finally:
        check(p.poll() is None, "tickd alive at the end")
        check(stop(p) == 0, "tickd exits 0 on SIGTERM")
        check(stop(p2) == 0, "second tickd exits 0")
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    sys.exit(1 if results["fail"] else 0)


if __name__ == "__main__":
    main()
