#!/usr/bin/env python3
"""Shared queue (PostgreSQL) against the local one (SQLite), on a throwaway PostgreSQL cluster
this script starts itself (Debian's server, initdb + pg_ctl as the `postgres` user, a random
port on 127.0.0.1, durable commits as a real server has them; removed at the end).

1. Claim + state-transition throughput (the `queue_claims` example, no network): POSTS posts
   walked through every committed step of an upload (claim, reserve, session, upload,
   uploaded, finalize, complete). Baseline: one runner on SQLite, the default. Ours: three
   runners (three connections, three machine names) on one PostgreSQL. Also one runner on
   PostgreSQL, to tell the engine from the parallelism. No target: the figures say whether the
   store limits a render farm (a real upload takes seconds per post).
2. Takeover: a runner is `kill -9`ed while its post's PUT streams; a second runner (another
   machine name) is started at that moment. Measured: the time from the kill to the second
   runner's first write to that post. Target: lease time + at most 1 s.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from common import EXAMPLES, UPLOAD, make_images, med, rounds, row, show, start_sandbox, QUICK

POSTS = 300 if QUICK else 2000
LEASE_S = 3.0


def is_root():
    return os.geteuid() == 0


def pg_bin():
    base = "/usr/lib/postgresql"
    versions = sorted(v for v in os.listdir(base) if os.path.exists(f"{base}/{v}/bin/initdb"))
    return f"{base}/{versions[-1]}/bin"


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else cmd


class Cluster:
    """A throwaway cluster; `url(db)` names a database in it."""

    def __init__(self):
        import socket
        self.dir = tempfile.mkdtemp(prefix="bench-pg-", dir="/tmp")
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        if is_root():
            subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        bin_ = pg_bin()
        self.pg_ctl = f"{bin_}/pg_ctl"
        data = f"{self.dir}/data"
        subprocess.run(as_postgres([f"{bin_}/initdb", "-D", data, "-U", "postgres",
                                    "--auth=trust", "-E", "UTF8"]),
                       check=True, capture_output=True, cwd="/tmp")
        opts = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir}"
        subprocess.run(as_postgres([self.pg_ctl, "-D", data, "-l", f"{self.dir}/log", "-w",
                                    "-o", opts, "start"]),
                       check=True, capture_output=True, cwd="/tmp")
        self.data = data
        self.n = 0

    def new_url(self):
        self.n += 1
        name = f"bench_{self.n}"
        subprocess.run(as_postgres([f"{pg_bin()}/psql", "-h", self.dir, "-p", str(self.port),
                                    "-U", "postgres", "-q", "-c", f"CREATE DATABASE {name}"]),
                       check=True, capture_output=True, cwd="/tmp")
        return f"postgres://postgres@127.0.0.1:{self.port}/{name}"

    def query(self, url, sql):
        db = url.rsplit("/", 1)[1]
        r = subprocess.run(as_postgres([f"{pg_bin()}/psql", "-h", self.dir, "-p",
                                        str(self.port), "-U", "postgres", "-d", db, "-At",
                                        "-c", sql]),
                           capture_output=True, text=True, cwd="/tmp")
        return r.stdout.strip()

    def stop(self):
        subprocess.run(as_postgres([self.pg_ctl, "-D", self.data, "-m", "immediate", "-w",
                                    "stop"]), capture_output=True, cwd="/tmp")
        shutil.rmtree(self.dir, ignore_errors=True)


def claims(store, runners, image):
    data = tempfile.mkdtemp(prefix="bench-claims-")
    try:
        r = subprocess.run([os.path.join(EXAMPLES, "queue_claims"), store, data, str(runners),
                            str(POSTS), image], check=True, capture_output=True, text=True)
        return json.loads(r.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(data, ignore_errors=True)


def takeover(cluster, image):
    """Seconds from the kill -9 of the runner holding a post to the next runner's write."""
    url = cluster.new_url()
    big = os.path.join(tempfile.mkdtemp(prefix="bench-takeover-"), "big.jpg")
    with open(image, "rb") as f, open(big, "wb") as out:
        out.write(f.read())
        out.write(os.urandom(4 * 1024 * 1024))
    homes = tempfile.mkdtemp(prefix="bench-takeover-homes-")
    with start_sandbox("--slow-put-bps", "500000") as sb:
        def env(machine):
            return sb.env(os.path.join(homes, machine), LAYERS_UPLOADER_STORE=url,
                          LAYERS_UPLOADER_MACHINE=machine,
                          LAYERS_UPLOADER_LEASE_S=str(LEASE_S))
        a = subprocess.Popen([UPLOAD, "upload", big], env=env("bench-a"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while cluster.query(url, "SELECT state FROM posts WHERE id = 1") != "uploading":
            if time.monotonic() > deadline:
                a.kill()
                raise RuntimeError("the first runner never started its PUT")
            time.sleep(0.02)
        time.sleep(0.3)
        a.send_signal(signal.SIGKILL)
        a.wait()
        t0 = time.monotonic()
        b = subprocess.Popen([UPLOAD, "resume"], env=env("bench-b"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = None
        while time.monotonic() - t0 < 60:
            if cluster.query(url, "SELECT machine FROM posts WHERE id = 1") == "bench-b":
                took = time.monotonic() - t0
                break
            time.sleep(0.02)
        b.wait(timeout=120)
    shutil.rmtree(homes, ignore_errors=True)
    shutil.rmtree(os.path.dirname(big), ignore_errors=True)
    return took


def run():
    image = make_images(1)[0]
    cluster = Cluster()
    rows = []
    try:
        n = rounds(3)
        sqlite1, pg1, pg3 = [], [], []
        for _ in range(n):
            sqlite1.append(claims("sqlite", 1, image)["postsPerSecond"])
            pg1.append(claims(cluster.new_url(), 1, image)["postsPerSecond"])
            pg3.append(claims(cluster.new_url(), 3, image)["postsPerSecond"])
        base = med(sqlite1)
        rows.append(row("shared_queue", f"claim+transitions, 3 runners on PostgreSQL ({POSTS} posts)",
                        round(med(pg3), 1), "posts/s", baseline=round(base, 1),
                        baseline_name="1 runner on SQLite", runs=len(pg3),
                        note="no target; each post is 7 commits"))
        rows.append(row("shared_queue", f"claim+transitions, 1 runner on PostgreSQL ({POSTS} posts)",
                        round(med(pg1), 1), "posts/s", baseline=round(base, 1),
                        baseline_name="1 runner on SQLite", runs=len(pg1)))
        takes = [takeover(cluster, image) for _ in range(rounds(3))]
        ok = all(t is not None and t <= LEASE_S + 1.0 for t in takes)
        worst = max(t for t in takes if t is not None) if any(takes) else None
        rows.append(row("shared_queue", f"takeover of a killed runner's post (lease {LEASE_S:g} s)",
                        round(worst, 2) if worst is not None else None, "s",
                        target=f"<= {LEASE_S + 1:g} s", ok=ok, runs=len(takes),
                        note="worst of the runs"))
    finally:
        cluster.stop()
    return rows


if __name__ == "__main__":
    show(run())
    sys.exit(0)
