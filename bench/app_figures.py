#!/usr/bin/env python3
"""The desktop app's figures: release binary size, cold start to first paint, idle memory after
start, and memory with 1,000 posts in the queue. Runs the release app under Xvfb in sandbox mode
(an empty private keyring), each launch with a fresh data dir.

  python3 bench/app_figures.py [--runs 5] [--no-build] [--json]

Memory is read from /proc for the app process and its whole process tree (the WebKit web and
network processes): VmRSS, VmHWM (peak RSS) and, for the total, PSS (shared pages counted once)."""

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from lib import env as envmod  # noqa: E402
from lib import media  # noqa: E402

TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
RELEASE = os.path.join(TARGET, "release")
APP = os.path.join(RELEASE, "layers-uploader-app")
# The embedded sandbox's one project (layers-sandbox's DEFAULT_PROJECT_ID).
SANDBOX_PROJECT = "254a4ce1-f4ca-42b1-9e36-17ca45ef3d39"
ACTIVE = ("queued", "reserving", "reserved", "uploading", "uploaded", "finalizing")


def build():
    for what in (["-p", "layers-uploader-app"], ["-p", "layers-uploader", "--example", "seed_queue"]):
        subprocess.run(["nice", "-n", "5", "cargo", "build", "--release", "--locked", *what],
                       cwd=ROOT, check=True)


def binary_size(path):
    stripped = tempfile.mktemp(prefix="app-stripped-")
    subprocess.run(["strip", "-o", stripped, path], check=True)
    try:
        return os.path.getsize(path), os.path.getsize(stripped)
    finally:
        os.unlink(stripped)


def _status(pid):
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Name", "VmRSS", "VmHWM"):
                    vals[k] = v.strip()
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    vals["Pss"] = line.split(":")[1].strip()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return vals


def _kib(v):
    return int(v.split()[0]) if v else 0


def process_tree(root):
    """`root` and every descendant, from /proc's parent links."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    stat = f.read()
                parents[int(d)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (FileNotFoundError, ProcessLookupError, ValueError):
                pass
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(p for p, pp in parents.items() if pp == pid)
    return tree


def memory(pid):
    procs = []
    for p in process_tree(pid):
        s = _status(p)
        if s:
            procs.append({"pid": p, "name": s.get("Name"), "rss_kib": _kib(s.get("VmRSS")),
                          "hwm_kib": _kib(s.get("VmHWM")), "pss_kib": _kib(s.get("Pss"))})
    app = next(p for p in procs if p["pid"] == pid)
    return {
        "app_rss_mib": app["rss_kib"] / 1024, "app_hwm_mib": app["hwm_kib"] / 1024,
        "total_rss_mib": sum(p["rss_kib"] for p in procs) / 1024,
        "total_hwm_mib": sum(p["hwm_kib"] for p in procs) / 1024,
        "total_pss_mib": sum(p["pss_kib"] for p in procs) / 1024,
        "processes": procs,
    }


class Launch:
    """The release app with READY reporting; stdout read until its READY line."""

    def __init__(self, app, display, data_dir):
        e = envmod.base_env(display)
        e["LAYERS_UPLOADER_DATA_DIR"] = data_dir
        e["LAYERS_UPLOADER_REPORT_READY"] = "1"
        e["RUST_LOG"] = "warn"
        self.log = open(os.path.join(data_dir, "..", os.path.basename(data_dir) + ".stderr"), "w")
        t0 = time.monotonic()
        self.proc = subprocess.Popen([app], env=e, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, start_new_session=True)
        for line in self.proc.stdout:
            if line.startswith("READY "):
                self.wall_ms = (time.monotonic() - t0) * 1000
                self.ready_ms = float(line.split()[1])
                break
        else:
            raise RuntimeError(f"the app exited ({self.proc.wait()}) before printing READY; "
                               f"see {self.log.name}")

    def stop(self):
        envmod.terminate(self.proc)
        self.log.close()


def wait_queue_idle(data_dir, timeout):
    """Until no post is in an active state (twice, 1 s apart); returns the state counts."""
    db = os.path.join(data_dir, "queue.sqlite3")
    deadline = time.monotonic() + timeout
    quiet = 0
    while True:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            counts = dict(con.execute("SELECT state, count(*) FROM posts GROUP BY state"))
        finally:
            con.close()
        quiet = quiet + 1 if not any(counts.get(s) for s in ACTIVE) else 0
        if quiet >= 2:
            return counts
        if time.monotonic() > deadline:
            return counts
        time.sleep(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--posts", type=int, default=1000)
    p.add_argument("--idle-secs", type=float, default=5.0,
                   help="how long the app sits after READY before memory is read")
    p.add_argument("--no-build", action="store_true")
    p.add_argument("--app", default=APP, help="the app binary (default: the release build)")
    p.add_argument("--seed", default=os.path.join(RELEASE, "examples", "seed_queue"),
                   help="the seed_queue example binary")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    envmod.reexec_in_private_keyring(ROOT)
    if not args.no_build:
        build()

    work = tempfile.mkdtemp(prefix="app-figures-")
    display = envmod.Display(work)
    out = {}
    try:
        size, stripped = binary_size(args.app)
        out["binary_bytes"], out["binary_stripped_bytes"] = size, stripped

        starts, idle = [], []
        for i in range(args.runs):
            data = os.path.join(work, f"start-{i}")
            os.makedirs(data)
            app = Launch(args.app, display.name, data)
            try:
                starts.append((app.ready_ms, app.wall_ms))
                time.sleep(args.idle_secs)  # the figure is "after sitting idle this long"
                idle.append(memory(app.proc.pid))
            finally:
                app.stop()
        with open("/proc/loadavg") as f:
            out["loadavg_during_starts"] = f.read().split()[0]
        out["ready_ms_median"] = statistics.median(s[0] for s in starts)
        out["wall_ms_median"] = statistics.median(s[1] for s in starts)
        out["starts"] = [{"ready_ms": r, "wall_ms": round(w, 1)} for r, w in starts]
        idle.sort(key=lambda m: m["total_pss_mib"])
        out["idle"] = idle[len(idle) // 2]

        data = os.path.join(work, "thousand")
        os.makedirs(data)
        image = media.slide(os.path.join(work, "seed.jpg"), 0)
        subprocess.run([args.seed, data, SANDBOX_PROJECT,
                        str(args.posts), image], check=True, capture_output=True)
        app = Launch(args.app, display.name, data)
        try:
            out["thousand_states"] = wait_queue_idle(data, 600)
            time.sleep(args.idle_secs)
            out["thousand"] = memory(app.proc.pid)
        finally:
            app.stop()
    finally:
        display.stop()
        shutil.rmtree(work, ignore_errors=True)
        xdg = os.environ.get("XDG_DATA_HOME", "")
        if os.path.basename(xdg).startswith("layers-e2e-xdg-"):
            shutil.rmtree(xdg, ignore_errors=True)

    if args.json:
        print(json.dumps(out))
        return
    mib = 1024 * 1024
    print(f"release binary: {out['binary_bytes'] / mib:.1f} MiB "
          f"({out['binary_stripped_bytes'] / mib:.1f} MiB stripped)")
    print(f"cold start to first paint (median of {args.runs}): READY {out['ready_ms_median']:.0f} ms "
          f"after process start, {out['wall_ms_median']:.0f} ms wall from spawn "
          f"(load average {out['loadavg_during_starts']} on {os.cpu_count()} CPUs)")
    for label, key in (("idle after start", "idle"), (f"with {args.posts} posts", "thousand")):
        m = out[key]
        print(f"{label}: app RSS {m['app_rss_mib']:.0f} MiB (peak {m['app_hwm_mib']:.0f}); "
              f"all {len(m['processes'])} processes RSS {m['total_rss_mib']:.0f} MiB "
              f"(peak {m['total_hwm_mib']:.0f}), PSS {m['total_pss_mib']:.0f} MiB")
    print(f"queue after the {args.posts}-post start: {out['thousand_states']}")


if __name__ == "__main__":
    main()
