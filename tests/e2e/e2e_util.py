"""e2e_util.py: helpers shared by the Python end-to-end tests (not a test itself: ctest runs test_*.py)."""
import socket

results = {"pass": 0, "fail": 0}


def check(cond, what):
    """Counts and prints one check; returns cond."""
    results["pass" if cond else "fail"] += 1
    print("ok  " if cond else "FAIL", what, flush=True)
    return cond


def free_port():
    """A TCP port free on 127.0.0.1 right now (tickd is started on it; callers retry on a race)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def spawn_tickd(build, tmp, extra, procs):
    """Starts build/tickd on a free 127.0.0.1 port with --data-dir tmp/data (log: tmp/log), appends the process
    to procs (so the caller can stop exactly what it started) and returns (process, port) once /healthz
    answers; retries another port if it lost a race for one."""
    import os, subprocess, time, urllib.request
    for _ in range(3):
        port = free_port()
        log = open(os.path.join(tmp, "log"), "a+")
        p = subprocess.Popen([os.path.join(build, "tickd"), "--listen", "127.0.0.1:%d" % port, "--data-dir",
                              os.path.join(tmp, "data"), "--status-interval", "0", *extra],
                             stdout=log, stderr=subprocess.STDOUT)
        procs.append(p)
        for _ in range(100):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=5).read()
                return p, port
            except OSError:
                if p.poll() is not None:
                    break
                time.sleep(0.05)
        p.kill()
        p.wait()
    raise SystemExit("tickd did not start: " + open(os.path.join(tmp, "log")).read()[-2000:])


def metrics(port, names):
    """The named /metrics series (unlabelled) from one scrape of tickd on port, as a dict; None if the scrape
    failed or one is missing."""
    import urllib.request
    try:
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    except OSError:
        return None
    got = {}
    for line in body.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in names:
            got[parts[0]] = int(float(parts[1]))
    return got if len(got) == len(names) else None


def metric(port, name):
    """One /metrics series of tickd on port, or -1."""
    m = metrics(port, (name,))
    return m[name] if m else -1
