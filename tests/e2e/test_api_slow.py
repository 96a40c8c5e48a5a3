#!/usr/bin/env python3
"""test_api_slow.py: the slow-consumer policy end to end. build/tickd runs with a small output cap; one client
subscribes to everything and stops reading (tiny receive buffer); another reads normally. The slow one must be
switched to conflation (counted in /metrics) and, still stuck, closed with 1008 and a reason, while the good
client keeps receiving every update in order, unconflated, and tickd's memory stays bounded. Every wait is
bounded; tickd is stopped by PID."""
import asyncio, base64, json, os, re, socket, struct, subprocess, sys, tempfile, time, urllib.request

import websockets
from e2e_util import metric, spawn_tickd

BUILD = os.environ.get("TD_BUILD_DIR", "build")
SYMS = ["AAPL", "MSFT", "TSLA", "SPY"]
results = {"pass": 0, "fail": 0}


def check(cond, what):
    results["pass" if cond else "fail"] += 1
    print("ok  " if cond else "FAIL", what, flush=True)


def start_tickd(extra):
    return spawn_tickd(BUILD, tempfile.mkdtemp(), extra, [])


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def masked(op, payload):
    mask = os.urandom(4)
    n = len(payload)
    hdr = bytes([0x80 | op]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack(">H", n))
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def slow_client(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET /v1/prices HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
    sub = {"action": "subscribe", "symbols": SYMS, "channels": ["tick", "trade", "nbbo", "book:20"]}
    s.sendall(masked(1, json.dumps(sub).encode()))
    return s


def drain_frames(s, timeout=15):
    """Reads to EOF; returns (text messages, close code, close reason)."""
    s.settimeout(timeout)
    buf = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            d = s.recv(1 << 20)
            if not d:
                break
            buf += d
            if b"\x88" in buf[-200:]:  # a close frame may have arrived: keep reading to EOF anyway
                pass
    except (socket.timeout, ConnectionResetError):
        pass
    i = buf.find(b"\r\n\r\n") + 4
    msgs, code, reason = [], None, ""
    while i + 2 <= len(buf):
        op, ln = buf[i] & 15, buf[i + 1] & 127
        h = 2
        if ln == 126:
            ln, h = struct.unpack(">H", buf[i + 2:i + 4])[0], 4
        elif ln == 127:
            ln, h = struct.unpack(">Q", buf[i + 2:i + 10])[0], 10
        if i + h + ln > len(buf):
            break
        payload = buf[i + h:i + h + ln]
        if op == 1:
            msgs.append(json.loads(payload))
        elif op == 8:
            code = struct.unpack(">H", payload[:2])[0]
            reason = payload[2:].decode()
        i += h + ln
    return msgs, code, reason


async def good_client(port, state):
    async with websockets.connect("ws://127.0.0.1:%d/v1/prices" % port, max_queue=None) as ws:
        # a light stream (about 1,500 ticks/s), so that this client keeps up even on a loaded machine
        await ws.send(json.dumps({"action": "subscribe", "symbols": ["AAPL"], "channels": ["tick"]}))
        last = {}
        while not state["stop"]:
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            except asyncio.TimeoutError:
                state["stalls"] += 1
                continue
            if m.get("symbol") != "AAPL":
                continue
            state["count"] += 1
            if m.get("conflated"):
                state["conflated"] += 1
            k = m["type"]
            if not m.get("snapshot") and k in last and m["seq"] <= last[k]:
                state["disorder"] += 1
            last[k] = m["seq"]


async def run(port, pid):
    state = {"stop": False, "count": 0, "conflated": 0, "disorder": 0, "stalls": 0}
    task = asyncio.create_task(good_client(port, state))
    await asyncio.sleep(0.5)
    s = slow_client(port)
    rss0 = rss_kb(pid)

    async def wait_metric(name, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = await asyncio.get_running_loop().run_in_executor(None, metric, port, name)
            if v >= 1:
                return v
            await asyncio.sleep(0.2)
        return 0

    check(await wait_metric("tickd_slow_clients_conflated_total", 30) >= 1, "slow client switched to conflation")
    count_at_conflation = state["count"]
    closed = await wait_metric("tickd_slow_clients_closed_total", 30)
    check(closed >= 1, "slow client, still stuck, closed")
    msgs, code, reason = await asyncio.get_running_loop().run_in_executor(None, drain_frames, s)
    s.close()
    check(code == 1008 and "slow consumer" in reason, "close 1008 with a reason: %s %r" % (code, reason))
    check(any(m.get("type") == "subscribed" for m in msgs), "slow client got its data before falling behind (%d msgs)" % len(msgs))
    last, ok_order = {}, True
    for m in msgs:
        if "seq" in m and not m.get("snapshot"):
            k = (m["symbol"], m["type"])
            if k in last and m["seq"] <= last[k]:
                ok_order = False
            last[k] = m["seq"]
    check(ok_order, "slow client: seq only grew up to the close")
    await asyncio.sleep(1.0)
    state["stop"] = True
    await asyncio.wait_for(task, 10)
    check(state["count"] > count_at_conflation + 100, "good client kept receiving (%d messages, %d after the slow "
          "client was conflated)" % (state["count"], state["count"] - count_at_conflation))
    check(state["conflated"] == 0, "good client never conflated")
    check(state["disorder"] == 0, "good client: seq only grows")
    check(state["stalls"] == 0, "good client never stalled 5 s")
    rss1 = rss_kb(pid)
    if os.environ.get("TD_SANITIZER") == "thread":  # TSan's shadow memory grows with what tickd touches
        print("     memory bound not checked under ThreadSanitizer (RSS %d -> %d KB)" % (rss0, rss1))
    else:
        check(rss1 - rss0 < 64 * 1024, "memory bounded (RSS %d -> %d KB)" % (rss0, rss1))
    check(metric(port, "tickd_slow_clients") == 0, "no slow client left")


def main():
    p, port = start_tickd(["--out-cap", "262144", "--slow-close-ms", "2000", "--slow-conflate-ms", "100",
                           "--feed", "sim:symbols=%s;rate=40000" % ",".join(SYMS)])
    try:
        asyncio.run(asyncio.wait_for(run(port, p.pid), 120))
    except Exception as e:
        check(False, "exception: %r" % (e,))
    finally:
        check(p.poll() is None, "tickd alive")
        p.terminate()
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        check(rc == 0, "tickd exits 0")
    print("%d passed, %d failed" % (results["pass"], results["fail"]))
    sys.exit(1 if results["fail"] else 0)


if __name__ == "__main__":
    main()
