#!/usr/bin/env python3
"""Queue scale: a store seeded with 10,000 queued posts (the `seed_queue` example). Measures
`queue list` and `queue list --json` over it, a cold `resume` (a new process on a fresh copy of
the store) to its first create-session answer and to its first storage PUT, and the store's
size on disk. The issue sets no targets here; the figures say whether a big queue stays usable.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from common import (EXAMPLES, UPLOAD, alternate, make_images, med, rounds, row, run_quiet, show,
                    start_sandbox, timed, QUICK)

POSTS = 2000 if QUICK else 10_000


def seed(sandbox, data, image):
    r = subprocess.run([os.path.join(EXAMPLES, "seed_queue"), data, sandbox.project, str(POSTS),
                        image], check=True, capture_output=True, text=True)
    m = re.search(r"in (\d+) ms", r.stderr)
    return int(m.group(1)) / 1000 if m else None


def store_bytes(data):
    return sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
               if f.startswith("queue.sqlite3"))


def cold_resume(sandbox, seeded):
    """Seconds from spawning `resume` to its first create answer and to its first PUT."""
    data = tempfile.mkdtemp(prefix="bench-resume-")
    shutil.rmtree(data)
    shutil.copytree(seeded, data)
    env = sandbox.env(data, LAYERS_LOG="layers_uploader=debug")
    marks = {}
    t = time.monotonic()
    proc = subprocess.Popen([UPLOAD, "resume"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)

    def read():
        for line in proc.stderr:
            now = time.monotonic() - t
            if "layers call" in line and "content/uploads" in line:
                marks.setdefault("create", now)
            if "storage PUT" in line:
                marks.setdefault("put", now)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while "put" not in marks and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(5)
    shutil.rmtree(data, ignore_errors=True)
    sandbox.clear()
    if "create" not in marks or "put" not in marks:
        raise RuntimeError(f"resume never reached its first create and PUT: {marks}")
    return marks["create"], marks["put"]


def run():
    image = make_images(1)[0]
    seeded = tempfile.mkdtemp(prefix="bench-seeded-")
    try:
        with start_sandbox() as sandbox:
            enqueue = seed(sandbox, seeded, image)
            size = store_bytes(seeded)
            env = sandbox.env(seeded)
            lists = alternate(rounds(5, 2), {
                "queue list": lambda: timed(lambda: run_quiet([UPLOAD, "queue", "list"], env=env)),
                "queue list --json": lambda: timed(
                    lambda: run_quiet([UPLOAD, "queue", "list", "--json"], env=env)),
            })
            starts = [cold_resume(sandbox, seeded) for _ in range(rounds(5, 2))]
    finally:
        shutil.rmtree(seeded, ignore_errors=True)
    rows = []
    if enqueue is not None:
        rows.append(row("queue_scale", f"enqueue {POSTS} posts (one transaction)",
                        round(enqueue, 3), "s"))
    for name, v in lists.items():
        rows.append(row("queue_scale", f"`{name}` over {POSTS} posts", round(med(v), 4), "s",
                        runs=[round(x, 4) for x in v]))
    rows.append(row("queue_scale", f"cold `resume` over {POSTS} posts: spawn → first create "
                    "answered", round(med([s[0] for s in starts]), 4), "s",
                    runs=[round(s[0], 4) for s in starts]))
    rows.append(row("queue_scale", f"cold `resume` over {POSTS} posts: spawn → first PUT started",
                    round(med([s[1] for s in starts]), 4), "s",
                    runs=[round(s[1], 4) for s in starts]))
    rows.append(row("queue_scale", f"store size on disk, {POSTS} posts", round(size / 2**20, 2),
                    "MiB"))
    return rows


if __name__ == "__main__":
    sys.exit(show(run()))
