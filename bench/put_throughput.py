#!/usr/bin/env python3
"""PUT throughput: ten ~90 MB videos per-file through `layers-upload upload` vs curl, one sandbox.

Both sides include create-session and finalize; ours also includes its local inspection (sniff,
ffprobe and sha-256 of every file) and its dedupe check — it runs as a user runs it, without
`--force`, so the ten files differ in their bytes. The baseline is what a careful script would do
by hand: one create call for the ten files, `curl -T` of each file to its presigned URL with the
same parallelism (3), one finalize per item, three at a time. Runs alternate (ours, curl, ours,
...); the sandbox is cleared between runs so its disk and quota stay the same for both.
Target: ours/curl ≤ 1.05 of wall time.

It runs on loopback twice: with everything sharing the machine's cores, and pinned — the
sandbox on core 0, the client side (ours, or curl) on core 1 — as a real upload looks, where
the server is another machine and does not take the client's CPU. `BENCH_PUT_PIN=1` runs only
the pinned pass, `BENCH_PUT_PIN=0` only the shared one.

Then over a realistic link (root only; `link.py`): 20 ms each way, 25 MB/s, the sandbox in one
network namespace and the client side in another, every byte of both sides through the same
wire and relays; fewer files (`BENCH_PUT_LINK_FILES`, default 4), target ratio ≤ 1.02.
`BENCH_PUT_LINK=0` skips it, `=1` runs only it. Where the link cannot be made, its row says why.
"""

import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import link
from common import (UPLOAD, Sandbox, alternate, children_cpu, make_video, med, rounds, row,
                    run_quiet, show, start_sandbox, variants, QUICK)

FILES = int(os.environ.get("BENCH_PUT_FILES", "4" if QUICK else "10"))
MB = int(os.environ.get("BENCH_PUT_MB", "90"))
PARALLEL = 3
TARGET_RATIO = 1.05
LINK_TARGET_RATIO = 1.02
LINK_FILES = int(os.environ.get("BENCH_PUT_LINK_FILES", "2" if QUICK else "4"))
LINK_MODE = os.environ.get("BENCH_PUT_LINK", "")
#: Processes besides the sandbox whose CPU a run costs (the link's wire and relays).
LINK_PIDS = [int(p) for p in os.environ.get("BENCH_LINK_PIDS", "").split(",") if p]
PIN_MODES = {"1": [True], "0": [False]}.get(os.environ.get("BENCH_PUT_PIN", ""), [False, True])
PIN = False
CLIENT = ()
SERVER = ()


def pin(on):
    """Sets where the next pass runs (module globals that ours() and baseline() read)."""
    global PIN, CLIENT, SERVER
    PIN = on
    CLIENT = ("taskset", "-c", "1") if on else ()
    SERVER = ("taskset", "-c", "0") if on else ()


def videos():
    return variants(lambda: make_video(f"put-src-{MB}mb.mp4", MB), f"put-{MB}mb", FILES, "put")


class Cpu:
    """CPU seconds used during one run by this side's processes and by the sandbox."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.client = children_cpu()
        self.server = sandbox.cpu_seconds()
        self.link = sum(link.cpu_seconds(p) for p in LINK_PIDS)

    def done(self, took, log):
        log.append((took, children_cpu() - self.client, self.sandbox.cpu_seconds() - self.server,
                    sum(link.cpu_seconds(p) for p in LINK_PIDS) - self.link))
        return took


def ours(sandbox, files, log):
    data = tempfile.mkdtemp(prefix="bench-data-")
    cpu = Cpu(sandbox)
    t = time.monotonic()
    run_quiet([*CLIENT, UPLOAD, "upload", "--concurrency", str(PARALLEL), *files], env=sandbox.env(data))
    took = cpu.done(time.monotonic() - t, log)
    shutil.rmtree(data, ignore_errors=True)
    sandbox.clear()
    return took


def baseline(sandbox, files, log):
    cpu = Cpu(sandbox)
    t = time.monotonic()
    declared = [{"filename": os.path.basename(f), "contentType": "video/mp4",
                 "sizeBytes": os.path.getsize(f)} for f in files]
    session = sandbox.call("POST", f"/v1/projects/{sandbox.project}/content/uploads",
                           {"files": declared, "grouping": "per-file"})

    def put(pair):
        f, upload = pair
        subprocess.run([*CLIENT, "curl", "-sf", "-o", "/dev/null", "-T", f, "-H", "Content-Type: video/mp4",
                        upload["files"][0]["uploadUrl"]], check=True)
        return upload["containerId"]

    def finalize(container):
        sandbox.call("POST", f"/v1/content/{container}/finalize-upload", {"caption": ""})

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        containers = list(pool.map(put, zip(files, session["uploads"])))
        list(pool.map(finalize, containers))
    took = cpu.done(time.monotonic() - t, log)
    sandbox.clear()
    return took


def run():
    rows = []
    if LINK_MODE != "1":
        for on in PIN_MODES:
            pin(on)
            rows += run_pass()
    if LINK_MODE != "0":
        pin(False)
        rows += link_pass()
    return rows


def run_pass():
    files = videos()
    with start_sandbox(prefix=SERVER) as sandbox:
        r = measure(sandbox, files, rounds(5, 2))
    bench = "put_throughput_pinned" if PIN else "put_throughput"
    where = "[pinned: sandbox core 0, client core 1] " if PIN else ""
    return [dict(r, bench=bench, measure=where + r["measure"])]


def measure(sandbox, files, n, target=TARGET_RATIO):
    """Ours and the curl baseline, alternately, `n` rounds after one untimed pass each (page
    cache and sandbox warm for both sides alike): one result row."""
    total = sum(os.path.getsize(f) for f in files)
    ours(sandbox, files, [])
    baseline(sandbox, files, [])
    logs = {"ours": [], "curl": []}
    times = alternate(n, {"ours": lambda: ours(sandbox, files, logs["ours"]),
                          "curl": lambda: baseline(sandbox, files, logs["curl"])})
    m, b = med(times["ours"]), med(times["curl"])
    mib = total / 2**20
    cpu = {k: [round(med([x[i] for x in v]), 2) for i in (1, 2, 3)] for k, v in logs.items()}
    note = (f"CPU s per run (client, sandbox{', link' if LINK_PIDS else ''}): "
            + "; ".join(f"{k} {', '.join(str(x) for x in (c if LINK_PIDS else c[:2]))}"
                        for k, c in cpu.items()))
    return row("put_throughput", f"{len(files)} × {total / len(files) / 1e6:.0f} MB per-file, "
               f"parallel {PARALLEL} (wall s; ours {mib / m:.0f} MiB/s, curl {mib / b:.0f} MiB/s)",
               round(m, 3), "s", baseline=round(b, 3), baseline_name="curl -T + create/finalize",
               target=f"ratio ≤ {target}", ok=m / b <= target,
               runs={k: [round(x, 3) for x in v] for k, v in times.items()}, note=note)


def link_pass():
    """The same comparison across `link.Link`: the sandbox in the server namespace, this
    script again (`--inside-link`) in the client namespace running both sides."""
    name = "put_throughput_link"
    why = link.available()
    if why:
        return [row(name, "realistic link (20 ms each way, 25 MB/s)", "skipped", "",
                    note=f"link not made: {why}; loopback figures only")]
    files = videos()[:LINK_FILES]
    wan = link.Link()
    try:
        with start_sandbox(prefix=link.ns(link.SERVER_NS)) as sandbox:
            port = int(sandbox.base.rsplit(":", 1)[1])
            wan.relays(port)
            env = dict(os.environ, BENCH_LINK_BASE=sandbox.base, BENCH_LINK_PROJECT=sandbox.project,
                       BENCH_LINK_SANDBOX_PID=str(sandbox.pid),
                       BENCH_LINK_PIDS=",".join(map(str, wan.pids())),
                       BENCH_LINK_FILES=json.dumps(files))
            out = subprocess.run(link.ns(link.CLIENT_NS, sys.executable, os.path.abspath(__file__),
                                         "--inside-link"), env=env, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"link pass failed: {out.stderr[-1500:]}")
            r = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        wan.close()
    return [dict(r, bench=name, measure=f"[{wan.describe()}] {r['measure']}")]


def inside_link():
    """Runs in the client namespace: both sides against the sandbox across the link."""
    sandbox = Sandbox(os.environ["BENCH_LINK_BASE"], os.environ["BENCH_LINK_PROJECT"],
                      int(os.environ["BENCH_LINK_SANDBOX_PID"]))
    files = json.loads(os.environ["BENCH_LINK_FILES"])
    print(json.dumps(measure(sandbox, files, rounds(3, 1), LINK_TARGET_RATIO)), flush=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--inside-link"]:
        sys.exit(inside_link())
    sys.exit(show(run()))
