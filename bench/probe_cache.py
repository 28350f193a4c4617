#!/usr/bin/env python3
"""The hash cache: `layers-upload probe --json` of 50 already-seen ~90 MB videos, with the cache
in the data dir filled by an earlier probe ("after": nothing is read again but the headers)
against the same probe with an empty data dir ("before": every byte is hashed, as every probe
did before the cache existed), alternately, page cache warm for both.

The videos are the PUT benchmark's (the same stream-copy variants, 50 instead of 10: ~4.5 GB,
made once beside the build). Target: none set; the ratio says what the cache saves.
"""

import os
import shutil
import sys
import tempfile

from common import (UPLOAD, alternate, make_video, med, rounds, row, run_quiet, show, timed,
                    variants, QUICK)

COUNT = int(os.environ.get("BENCH_VIDEOS", 10 if QUICK else 50))
MB = 90


def probe(files, data_dir):
    env = dict(os.environ, LAYERS_UPLOADER_DATA_DIR=data_dir)
    run_quiet([UPLOAD, "probe", "--json", *files], env=env)


def cold(files):
    data = tempfile.mkdtemp(prefix="bench-probe-cold-")
    try:
        return timed(lambda: probe(files, data))
    finally:
        shutil.rmtree(data, ignore_errors=True)


def run():
    files = variants(lambda: make_video(f"put-src-{MB}mb.mp4", MB), f"put-{MB}mb", COUNT,
                     "put")
    total = sum(os.path.getsize(f) for f in files)
    warm_dir = tempfile.mkdtemp(prefix="bench-probe-warm-")
    try:
        probe(files, warm_dir)  # fills the cache, and the page cache for both sides
        times = alternate(rounds(5, 1), {
            "ours": lambda: timed(lambda: probe(files, warm_dir)),
            "no cache": lambda: cold(files),
        })
    finally:
        shutil.rmtree(warm_dir, ignore_errors=True)
    o, b = med(times["ours"]), med(times["no cache"])
    return [row("probe_cache", f"probe {len(files)} already-seen videos "
                f"({total / len(files) / 1e6:.0f} MB each), hash cache filled vs empty",
                round(o, 4), "s", baseline=round(b, 4),
                baseline_name="same probe, empty data dir (every byte hashed)",
                runs={k: [round(x, 4) for x in v] for k, v in times.items()})]


if __name__ == "__main__":
    sys.exit(show(run()))
