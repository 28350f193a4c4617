#!/usr/bin/env python3
"""Inspection: `layers-upload probe --json` (sniff, figures, sha-256, platform fit) against what
a user would run instead, alternately, on the same files:

- 50 videos: a sequential `ffprobe` loop, and `xargs -P$(nproc) ffprobe` (ffprobe only — no hash);
- 1,000 images: `identify -ping` (ImageMagick, header-only, all files in one process) and
  `xargs -P$(nproc) ffprobe`;
- sha-256 of 1 GiB: the engine's hashing (the `hash_file` example calls the same function the
  inspection uses) against `sha256sum`.
Targets: none set by the issue for speed; a ratio ≤ 1 means ours is faster than the baseline.
"""

import os
import subprocess
import sys

from common import (EXAMPLES, GIB, UPLOAD, alternate, make_images, make_video, med, random_file,
                    rounds, row, run_quiet, show, timed, variants, QUICK)

FFPROBE = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams"]
NPROC = str(os.cpu_count() or 2)


def sequential_ffprobe(files):
    # A shell loop, as a user would write it.
    run_quiet(["sh", "-c", 'for f in "$@"; do ' + " ".join(FFPROBE) + ' "$f"; done', "sh", *files])


def xargs_ffprobe(files):
    subprocess.run(["xargs", "-0", "-n1", f"-P{NPROC}", *FFPROBE],
                   input=b"\0".join(f.encode() for f in files), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def probe(files):
    run_quiet([UPLOAD, "probe", "--json", *files])


def bench_rows(bench, measure, times, ours_key="ours"):
    o = med(times[ours_key])
    runs = {k: [round(x, 4) for x in v] for k, v in times.items()}
    return [row(bench, f"{measure} vs {name}", round(o, 4), "s", baseline=round(med(v), 4),
                baseline_name=name, runs=runs)
            for name, v in times.items() if name != ours_key]


def run():
    n_videos = int(os.environ.get("BENCH_VIDEOS", 10 if QUICK else 50))
    n_images = int(os.environ.get("BENCH_IMAGES", 200 if QUICK else 1000))
    videos = variants(lambda: make_video("inspect-src.mp4", 5, seconds=5),
                      "inspect-videos", 50, "clip")[:n_videos]
    images = make_images(1000)[:n_images]
    blob = random_file("hash-1gib.bin", GIB)

    out = []
    times = alternate(rounds(5, 1), {
        "ours": lambda: timed(lambda: probe(videos)),
        "sequential ffprobe loop": lambda: timed(lambda: sequential_ffprobe(videos)),
        f"xargs -P{NPROC} ffprobe": lambda: timed(lambda: xargs_ffprobe(videos)),
    })
    out += bench_rows("inspect", f"probe {len(videos)} videos", times)

    times = alternate(rounds(3, 1), {
        "ours": lambda: timed(lambda: probe(images)),
        "identify -ping (one process)": lambda: timed(lambda: run_quiet(
            ["identify", "-ping", "-format", "%m %w %h\n", *images])),
        f"xargs -P{NPROC} ffprobe": lambda: timed(lambda: xargs_ffprobe(images)),
    })
    out += bench_rows("inspect", f"probe {len(images)} images", times)

    hasher = os.path.join(EXAMPLES, "hash_file")
    times = alternate(rounds(5, 1), {
        "ours": lambda: timed(lambda: run_quiet([hasher, blob])),
        "sha256sum": lambda: timed(lambda: run_quiet(["sha256sum", blob])),
    })
    out += bench_rows("inspect", "sha-256 of 1 GiB", times)
    # The two must agree, or the comparison means nothing.
    ours = subprocess.run([hasher, blob], capture_output=True, text=True, check=True).stdout
    theirs = subprocess.run(["sha256sum", blob], capture_output=True, text=True, check=True).stdout
    if ours.split()[0] != theirs.split()[0]:
        raise RuntimeError(f"hash_file says {ours.split()[0]}, sha256sum {theirs.split()[0]}")
    return out


if __name__ == "__main__":
    sys.exit(show(run()))
