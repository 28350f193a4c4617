#!/usr/bin/env python3
"""Watch: 500 distinct images copied into a folder that `layers-upload watch --settle 1` watches
(against the sandbox). Measures the time from the last copy finishing to the last post queued
(read from the queue store), then waits a little longer (late rescans would show up) and counts
files that never became a post (missed) and files that became more than one (duplicated).
Target: 0 missed, 0 duplicated. It does not wait for the uploads: at the documented 60 writes a
minute, 500 posts take minutes to finalize, which measures the rate limit, not the watcher.
The latency includes the settle time (1 s) by design: a file is only taken once it holds still.
"""

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

from common import UPLOAD, make_images, med, rounds, row, show, start_sandbox, QUICK

SETTLE_S = 1.0
FILES = 100 if QUICK else 500


def store_rows(data):
    """(basename, post state, created_at ms) of every post file in the queue store."""
    path = os.path.join(data, "queue.sqlite3")
    if not os.path.exists(path):
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return [(os.path.basename(p), s, c) for p, s, c in conn.execute(
            "SELECT f.path, p.state, p.created_at FROM post_files f "
            "JOIN posts p ON p.id = f.post_id")]
    except sqlite3.OperationalError:  # not migrated yet
        return []
    finally:
        conn.close()


def one_round(sandbox, images):
    data = tempfile.mkdtemp(prefix="bench-watch-data-")
    folder = tempfile.mkdtemp(prefix="bench-watch-dir-")
    proc = subprocess.Popen([UPLOAD, "watch", "--settle", str(SETTLE_S), folder],
                            env=sandbox.env(data), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    ready = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            if "watching" in line:
                ready.set()
    threading.Thread(target=read_stderr, daemon=True).start()
    try:
        if not ready.wait(60):
            raise RuntimeError("layers-upload watch did not start within 60 s")
        for src in images:
            shutil.copyfile(src, os.path.join(folder, os.path.basename(src)))
        last_copy_ms = time.time() * 1000
        deadline = time.monotonic() + 300
        while True:
            rows = store_rows(data)
            if len({r[0] for r in rows}) >= len(images) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        latency = (max((r[2] for r in rows), default=last_copy_ms) - last_copy_ms) / 1000
        # A duplicate would come from a second look at a file already taken: give the watcher
        # a few settle periods to make that mistake.
        time.sleep(3 * SETTLE_S + 2)
        rows = store_rows(data)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        sandbox.clear()
    names = [r[0] for r in rows]
    wanted = {os.path.basename(p) for p in images}
    missed = len(wanted - set(names))
    duplicated = len(names) - len(set(names))
    started = sum(1 for r in rows if r[1] != "queued")
    return latency, missed, duplicated, started


def run():
    images = make_images(1000)[:FILES]
    results = []
    with start_sandbox() as sandbox:
        for _ in range(rounds(3, 1)):
            results.append(one_round(sandbox, images))
    latency = med([r[0] for r in results])
    missed = max(r[1] for r in results)
    dup = max(r[2] for r in results)
    completed = min(r[3] for r in results)
    return [
        row("watch", f"{FILES} files copied in: last copy → last post queued (settle "
            f"{SETTLE_S:g} s included)", round(latency, 3), "s",
            runs=[round(r[0], 3) for r in results]),
        row("watch", "missed / duplicated files (worst round)", f"{missed} / {dup}", "",
            target="0 / 0", ok=missed == 0 and dup == 0,
            note=f"posts already past `queued` when the round ended (fewest): {completed}"),
    ]


if __name__ == "__main__":
    sys.exit(show(run()))
