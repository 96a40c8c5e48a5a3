"""test_live_tickd.py: tickd itself with live feeds against tests/feed/mock_exchange.py: a wss:// Binance
futures feed trusting the mock's self-signed CA (generated here with `openssl req`), with the exchange
dropping the connection mid-stream, plus a Coinbase feed over ws://. tickd must connect, sync every book
from REST snapshots, notice the drop, reconnect, resync (8 snapshots for 4 symbols), keep running, and exit
0 on SIGTERM. A feed with an untrusted certificate must not connect. Skipped (exit 0 with a note) when
python3-websockets or openssl is missing. Everything started here is stopped by PID."""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

B = os.environ.get("TD_BUILD_DIR", "build")
DATA = os.environ.get("TD_SHARED_DATA", "../shared/data")
SRC = os.environ.get("TD_SOURCE_DIR", ".")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        fails += 1


def start_mock(args):
    p = subprocess.Popen([PY, os.path.join(SRC, "tests/feed/mock_exchange.py")] + args + ["--max-seconds", "60"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.match(r"PORT (\d+)", line)
    if not m:
        p.kill()
        raise SystemExit("mock did not start: %r" % line)
    return p, int(m.group(1))


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    if subprocess.call([PY, "-c", "import websockets"], stderr=subprocess.DEVNULL) != 0 or not shutil.which("openssl"):
        print("skipped: needs python3-websockets and openssl")
        return 0
    tmp = tempfile.mkdtemp()
    procs = []
    try:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.check_call(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                               "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bn, bport = start_mock(["--kind", "binance-futures", "--ws-file", DATA + "/binance/BINANCE_FUTURES.ws.1.0",
                                "--http-file", DATA + "/binance/BINANCE_FUTURES.http.0.0", "--cert", cert, "--key", key,
                                "--faults", "drop:600:40", "--rate", "1000"])
        procs.append(bn)
        cb, cport = start_mock(["--kind", "coinbase", "--ws-file", DATA + "/coinbase/COINBASE.ws.28.0", "--rate", "5000"])
        procs.append(cb)
        feed_bn = ("binance-futures:sushiusdt,akrousdt,keepusdt,ctkusdt;ws=wss://127.0.0.1:%d;rest=https://127.0.0.1:%d;"
                   "ca=%s;stall_ms=5000;backoff_ms=50" % (bport, bport, cert))
        feed_cb = "coinbase:SKL-USD,BAND-GBP,NMR-EUR;ws=ws://127.0.0.1:%d;stall_ms=5000" % cport
        log = open(os.path.join(tmp, "tickd.log"), "w+")
        td = subprocess.Popen([B + "/tickd", "--data-dir", os.path.join(tmp, "data"), "--listen", "127.0.0.1:0",
                               "--status-interval", "500", "--feed", feed_bn, "--feed", feed_cb],
                              stdout=log, stderr=subprocess.STDOUT)
        procs.append(td)
        deadline = time.time() + 40
        text = ""
        while time.time() < deadline:
            time.sleep(0.3)
            log.seek(0)
            text = log.read()
            if len(re.findall(r"binance-futures:.*synced from a snapshot", text)) >= 8 and "connection 2" in text:
                break
        check(td.poll() is None, "tickd still running with live feeds")
        check("binance-futures:" in text and "connected (connection 1)" in text, "binance feed connected over wss")
        check("connection lost" in text and "connected (connection 2)" in text, "reconnected after the mock dropped it")
        n = len(re.findall(r"binance-futures:.*synced from a snapshot", text))
        check(n >= 8, "every futures book resynced after the drop (%d snapshots applied)" % n)
        check(re.search(r"coinbase:.*connected \(connection 1\)", text) is not None, "coinbase feed connected")
        # the supervisor's health reaches /metrics: one state series per live feed, reconnects counted
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", text)
        metrics = ""
        if m:
            import urllib.request
            metrics = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % m.group(1), timeout=5).read().decode()
        check(re.search(r'tickd_feed_state\{feed="binance-futures[^"]*",state="live"\} 1', metrics) is not None,
              "/metrics shows the binance feed live")
        rc = re.search(r'tickd_feed_reconnects_total\{feed="binance-futures[^"]*"\} (\d+)', metrics)
        check(rc is not None and int(rc.group(1)) >= 1, "/metrics counts the reconnect")
        td.send_signal(signal.SIGTERM)
        try:
            code = td.wait(15)
        except subprocess.TimeoutExpired:
            td.kill()
            code = td.wait()
        check(code == 0, "tickd exits 0 on SIGTERM (got %s)" % code)

        # an untrusted certificate never connects: verification is not optional
        log2 = open(os.path.join(tmp, "tickd2.log"), "w+")
        td2 = subprocess.Popen([B + "/tickd", "--data-dir", os.path.join(tmp, "data2"), "--listen", "127.0.0.1:0",
                                "--feed", "binance-futures:sushiusdt;ws=wss://127.0.0.1:%d;rest=https://127.0.0.1:%d;"
                                "backoff_ms=50;breaker=2" % (bport, bport)],
                               stdout=log2, stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items()
                                                                           if k != "TD_FEED_CA_FILE"})
        procs.append(td2)
        time.sleep(2)
        td2.send_signal(signal.SIGTERM)
        td2.wait(15)
        log2.seek(0)
        t2 = log2.read()
        check("certificate verify failed" in t2 and "connected (connection" not in t2,
              "an untrusted certificate is refused")
        check("circuit open" in t2, "repeated TLS failures open the circuit")
    finally:
        for p in procs:
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    print("%s" % ("FAILED" if fails else "all ok"))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
