"""Shared pieces of the benchmarks: where the release binaries are, a sandbox to talk to, generated
media (cached under the cargo target dir so repeated runs reuse it), the alternating timing loop,
peak-RSS measurement and the result rows every benchmark returns.

Python 3.11 standard library only, so `make bench` runs on a fresh machine with nothing else."""

import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TARGET = os.path.abspath(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")))
RELEASE = os.path.join(TARGET, "release")
EXAMPLES = os.path.join(RELEASE, "examples")
UPLOAD = os.path.join(RELEASE, "layers-upload")
SANDBOX = os.path.join(RELEASE, "layers-sandbox")

#: `BENCH_QUICK=1`: fewer rounds and smaller sets, to check the suite itself in a minute or two.
QUICK = os.environ.get("BENCH_QUICK") == "1"
#: A live-mode key for the sandbox (it accepts any `lp_live_` key); not a secret.
KEY = "lp_live_bench_notasecret"
GIB = 1024 ** 3
MIB = 1024 ** 2


def rounds(full, quick=1):
    """How many alternating rounds a benchmark runs (`BENCH_ROUNDS` overrides full mode)."""
    if QUICK:
        return quick
    return int(os.environ.get("BENCH_ROUNDS", full))


def media_dir(*parts):
    """Generated media lives beside the build (outside the clone), reused between runs."""
    path = os.path.join(TARGET, "bench-media", *parts)
    os.makedirs(path, exist_ok=True)
    return path


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-nostdin", *args], check=True)


def make_video(name, megabytes, seconds=6, size="1080x1920"):
    """A valid H.264 MP4 of about `megabytes` MB (constant high bitrate test pattern)."""
    path = os.path.join(media_dir(), name)
    if os.path.exists(path):
        return path
    bitrate = int(megabytes * 8 * 1_000_000 / seconds)
    tmp = path + ".tmp.mp4"
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r=30", "-t", str(seconds), "-c:v", "libx264",
           "-preset", "ultrafast", "-b:v", str(bitrate), "-minrate", str(bitrate),
           "-maxrate", str(bitrate), "-bufsize", str(bitrate), "-x264-params", "nal-hrd=cbr",
           "-pix_fmt", "yuv420p", tmp)
    os.replace(tmp, path)
    return path


def variants(make_source, folder, count, stem):
    """`count` copies of a video whose bytes differ (a stream-copy remux with its own title), so
    dedupe sees `count` different files; each costs a file copy, not an encode. The source
    (`make_source()` makes it) is only made when a copy is missing, and removed afterwards."""
    out = [os.path.join(media_dir(folder), f"{stem}-{i:03d}.mp4") for i in range(count)]
    missing = [(i, p) for i, p in enumerate(out) if not os.path.exists(p)]
    if missing:
        src = make_source()
        for i, path in missing:
            tmp = path + ".tmp.mp4"
            ffmpeg("-i", src, "-c", "copy", "-metadata", f"title={stem} {i}", tmp)
            os.replace(tmp, path)
        os.remove(src)
    return out


def make_images(count, folder="images", size="1080x1350"):
    """`count` distinct JPEG images (frames of a moving test pattern), generated in one run."""
    d = media_dir(folder)
    paths = [os.path.join(d, f"img-{i:04d}.jpg") for i in range(1, count + 1)]
    if not all(os.path.exists(p) for p in paths):
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r=30", "-frames:v", str(count),
               "-q:v", "4", os.path.join(d, "img-%04d.jpg"))
    return paths


def random_file(name, size):
    """A file of `size` random bytes (for hashing: nothing to compress or skip)."""
    path = os.path.join(media_dir(), name)
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MIB)
            f.write(os.urandom(n))
            left -= n
    os.replace(tmp, path)
    return path


class Sandbox:
    """A release `layers-sandbox` on an ephemeral port with its own data dir."""

    def __init__(self, base, project, pid=None):
        self.base = base
        self.project = project
        self.pid = pid

    def cpu_seconds(self):
        """CPU time (user + system) the sandbox process has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def call(self, method, path, body=None, key=KEY, idempotency=True):
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if idempotency and method == "POST":
            headers["Idempotency-Key"] = os.urandom(16).hex()
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, method=method, data=data, headers=headers)
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def clear(self):
        """Deletes every container and its stored objects (frees quota and disk between runs)."""
        state = self.call("GET", "/_sandbox/state")
        for c in state["containers"]:
            if c["state"] != "deleted":
                self.call("POST", f"/_sandbox/delete/{c['containerId']}", {}, idempotency=False)

    def env(self, data_dir, **extra):
        """The environment `layers-upload` needs to talk to this sandbox."""
        return dict(os.environ, LAYERS_API_KEY=KEY, LAYERS_API_BASE=self.base,
                    LAYERS_PROJECT_ID=self.project, LAYERS_UPLOADER_DATA_DIR=data_dir, **extra)


def sandbox_parent():
    """Where the sandbox keeps received objects: RAM (/dev/shm) when there is room, so the
    figures measure the uploader rather than the disk the stand-in server writes to (the same
    for both sides), and gigabytes of test uploads never fill the disk. `BENCH_SANDBOX_DIR`
    overrides."""
    if os.environ.get("BENCH_SANDBOX_DIR"):
        return os.environ["BENCH_SANDBOX_DIR"]
    shm = "/dev/shm"
    if os.path.isdir(shm) and shutil.disk_usage(shm).free > 4 * GIB:
        return shm
    return None


@contextlib.contextmanager
def start_sandbox(*flags, prefix=()):
    """Yields a running [`Sandbox`] (its command line after `prefix`, e.g. a `taskset`); stops
    it and removes its data on exit."""
    data = tempfile.mkdtemp(prefix="bench-sandbox-", dir=sandbox_parent())
    proc = subprocess.Popen([*prefix, SANDBOX, "--port", "0", "--data-dir", data,
                             "--max-uploads", "1000000", *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = proc.stdout.readline().split()[1]
        project = proc.stdout.readline().split()[1]
        yield Sandbox(base, project, proc.pid)
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)


def alternate(n, sides):
    """Runs each side once per round, in turn, `n` rounds: {name: [result, ...]}."""
    out = {name: [] for name in sides}
    for _ in range(n):
        for name, fn in sides.items():
            out[name].append(fn())
    return out


def children_cpu():
    """CPU seconds (user + system) of every child process this bench has reaped so far."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def run_quiet(cmd, env=None, check=True):
    return subprocess.run(cmd, env=env, check=check, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)


GNU_TIME = "/usr/bin/time"


def _vm_hwm_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _child_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except (OSError, ValueError):
        return None


def peak_rss(cmd, env=None):
    """Runs `cmd` to its end: (seconds, peak RSS in KiB of that process itself, the same polled
    from /proc, in KiB or None).

    Not this process's wait4 `ru_maxrss`: Linux carries the forking parent's high-water mark
    (this Python, ~25 MiB) into a child that execs, so every small process would read as big as
    the bench. GNU `time -f %M` (a ~1 MiB process) forks the command and reports its
    `ru_maxrss`, whose floor is then time's own size; as a cross-check `/proc/<pid>/status`
    `VmHWM` of the command is polled every 2 ms and the last value kept (it misses only a peak
    in the last 2 ms of a run). Without GNU time, the polled figure is the figure."""
    with tempfile.NamedTemporaryFile(prefix="bench-rss-", suffix=".txt") as out:
        wrapped = [GNU_TIME, "-f", "%M", "-o", out.name, *cmd] if os.path.exists(GNU_TIME) else cmd
        t = time.monotonic()
        proc = subprocess.Popen(wrapped, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        err = []
        reader = threading.Thread(target=lambda: err.append(proc.stderr.read()))
        reader.start()
        polled, target = None, None
        while proc.poll() is None:
            if target is None:
                target = _child_of(proc.pid) if wrapped is not cmd else proc.pid
            if target is not None:
                polled = _vm_hwm_kib(target) or polled
            time.sleep(0.002)
        took = time.monotonic() - t
        reader.join()
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} exited {proc.returncode}: "
                               f"{err[0][-2000:].decode(errors='replace')}")
        if wrapped is cmd:
            return took, polled, polled
        with open(out.name) as f:
            return took, int(f.read().split()[-1]), polled


def med(xs):
    return statistics.median(xs)


def row(bench, measure, ours, unit, *, baseline=None, baseline_name=None, target=None, ok=None,
        runs=None, note=None):
    """One line of the results table. `ours`/`baseline` are medians; `ok` is pass/fail against
    `target` (None where the issue sets no target)."""
    r = {"bench": bench, "measure": measure, "ours": ours, "unit": unit}
    if baseline is not None:
        r.update(baseline=baseline, baseline_name=baseline_name,
                 ratio=round(ours / baseline, 3) if baseline else None)
    if target is not None:
        r.update(target=target, ok=ok)
    if runs is not None:
        r["runs"] = runs
    if note:
        r["note"] = note
    return r


def show(rows):
    for r in rows:
        print(json.dumps(r), flush=True)
