#!/usr/bin/env python3
"""PUT throughput: ten ~90 MB videos per-file through `layers-upload upload` vs curl, one sandbox.

Both sides include create-session and finalize; ours also includes its local inspection (sniff,
ffprobe and sha-256 of every file) and its dedupe check — it runs as a user runs it, without
`--force`, so the ten files differ in their bytes. The baseline is what a careful script would do
by hand: one create call for the ten files, `curl -T` of each file to its presigned URL with the
same parallelism (3), one finalize per item, three at a time. Runs alternate (ours, curl, ours,
...); the sandbox is cleared between runs so its disk and quota stay the same for both.
Target: ours/curl ≤ 1.05 of wall time.

It runs twice: with everything sharing the machine's cores (the target's setting), and pinned —
the sandbox on core 0, the client side (ours, or curl) on core 1 — as a real upload looks,
where the server is another machine and does not take the client's CPU. `BENCH_PUT_PIN=1`
runs only the pinned pass, `BENCH_PUT_PIN=0` only the shared one.
"""

import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time

from common import (UPLOAD, alternate, children_cpu, make_video, med, rounds, row, run_quiet, show,
                    start_sandbox, variants, QUICK)

FILES = int(os.environ.get("BENCH_PUT_FILES", "4" if QUICK else "10"))
MB = int(os.environ.get("BENCH_PUT_MB", "90"))
PARALLEL = 3
TARGET_RATIO = 1.05
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

    def done(self, took, log):
        log.append((took, children_cpu() - self.client, self.sandbox.cpu_seconds() - self.server))
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
    for on in PIN_MODES:
        pin(on)
        rows += run_pass()
    return rows


def run_pass():
    files = videos()
    total = sum(os.path.getsize(f) for f in files)
    with start_sandbox(prefix=SERVER) as sandbox:
        # One untimed pass each: page cache and sandbox warm for both sides alike.
        ours(sandbox, files, [])
        baseline(sandbox, files, [])
        logs = {"ours": [], "curl": []}
        times = alternate(rounds(5, 2), {"ours": lambda: ours(sandbox, files, logs["ours"]),
                                         "curl": lambda: baseline(sandbox, files, logs["curl"])})
    m, b = med(times["ours"]), med(times["curl"])
    mib = total / 2**20
    cpu = {k: {"client_cpu_s": round(med([x[1] for x in v]), 2),
               "sandbox_cpu_s": round(med([x[2] for x in v]), 2)} for k, v in logs.items()}
    return [row("put_throughput_pinned" if PIN else "put_throughput", f"{'[pinned: sandbox core 0, client core 1] ' if PIN else ''}{FILES} × {total / FILES / 1e6:.0f} MB per-file, parallel "
                f"{PARALLEL} (wall s; ours {mib / m:.0f} MiB/s, curl {mib / b:.0f} MiB/s)",
                round(m, 3), "s", baseline=round(b, 3), baseline_name="curl -T + create/finalize",
                target=f"ratio ≤ {TARGET_RATIO}", ok=m / b <= TARGET_RATIO,
                runs={k: [round(x, 3) for x in v] for k, v in times.items()},
                note=f"CPU s per run (client, sandbox): ours {cpu['ours']['client_cpu_s']}, "
                f"{cpu['ours']['sandbox_cpu_s']}; curl {cpu['curl']['client_cpu_s']}, "
                f"{cpu['curl']['sandbox_cpu_s']}")]


if __name__ == "__main__":
    sys.exit(show(run()))
