#!/usr/bin/env python3
"""Make it fit: `layers-upload fit` on a 60 s 2560x1440 30 Mbps clip (too wide, too fast, too
big for the 100 MB cap) against the plain `ffmpeg` command our converter runs for it — the exact
arguments, printed by the engine itself (`examples/fit_args.rs`) — alternately, in the same run.

Targets: wall ratio ≤ 1.05 (our overhead is planning, probing and re-inspecting, never the
encode), and the copy's overall bitrate within 10 % of the ceiling the planner set.

  BENCH_FIT_PRESET  the x264 preset both sides use (LAYERS_FIT_PRESET; default: the product's)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from common import (EXAMPLES, UPLOAD, alternate, ffmpeg, med, media_dir, rounds, row, show,
                    timed, QUICK)

SECONDS = 10 if QUICK else 60
SOURCE_BPS = 30_000_000


def source():
    """2560x1440 30 fps H.264/AAC at ~30 Mbps; temporal noise so the copy needs every bit its
    ceiling allows (a clean test pattern would land far under it and say nothing)."""
    path = os.path.join(media_dir(), f"fit-src-{SECONDS}s.mp4")
    if not os.path.exists(path):
        tmp = path + ".tmp.mp4"
        rate = str(SOURCE_BPS)
        ffmpeg("-f", "lavfi", "-i", "testsrc2=s=2560x1440:r=30", "-f", "lavfi", "-i",
               "sine=f=440", "-t", str(SECONDS), "-vf", "noise=alls=24:allf=t",
               "-c:v", "libx264", "-preset", "ultrafast", "-b:v", rate, "-minrate", rate,
               "-maxrate", rate, "-bufsize", rate, "-x264-params", "nal-hrd=cbr",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", tmp)
        os.replace(tmp, path)
    return path


def probe_bps(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format",
                          path], capture_output=True, check=True, text=True).stdout
    return int(json.loads(out)["format"]["bit_rate"])


def run():
    env = dict(os.environ)
    if os.environ.get("BENCH_FIT_PRESET"):
        env["LAYERS_FIT_PRESET"] = os.environ["BENCH_FIT_PRESET"]
    src = source()
    work = tempfile.mkdtemp(prefix="bench-fit-", dir=media_dir())
    try:
        plain_out = os.path.join(work, "plain.mp4")
        argv = json.loads(subprocess.run([os.path.join(EXAMPLES, "fit_args"), src, plain_out],
                                         env=env, capture_output=True, text=True,
                                         check=True).stdout)
        ours_dir = os.path.join(work, "ours")
        os.makedirs(ours_dir)
        rows_out = []

        def ours():
            for f in os.listdir(ours_dir):
                os.remove(os.path.join(ours_dir, f))
            res = subprocess.run([UPLOAD, "fit", "--json", "--out", ours_dir, src], env=env,
                                 capture_output=True, text=True)
            if res.returncode != 0:
                raise RuntimeError(f"layers-upload fit exited {res.returncode}: "
                                   f"{res.stderr[-1500:]}{res.stdout[-1500:]}")
            rows_out.append(json.loads(res.stdout.splitlines()[-1]))

        def plain():
            if os.path.exists(plain_out):
                os.remove(plain_out)
            subprocess.run(["ffmpeg", *argv], env=env, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

        times = alternate(rounds(3, 1), {
            "ours": lambda: timed(ours),
            "plain ffmpeg": lambda: timed(plain),
        })
        o, b = med(times["ours"]), med(times["plain ffmpeg"])
        ratio = o / b
        fitted = rows_out[-1]
        video_max = int(argv[argv.index("-maxrate") + 1])
        # The planner's overall ceiling: the video's maxrate plus what it set aside for audio
        # (a re-encode's -b:a, or COPIED_AUDIO_RESERVE_BPS for an AAC track copied as it is).
        audio = int(argv[argv.index("-b:a") + 1]) if "-b:a" in argv else 320_000
        target = video_max + audio
        got = probe_bps(fitted["output"])
        plain_bps = probe_bps(plain_out)
        off = abs(got - target) / target
        runs = {k: [round(x, 2) for x in v] for k, v in times.items()}
        preset = env.get("LAYERS_FIT_PRESET", "medium (default)")
        return [
            row("fit", f"{SECONDS} s 2560x1440 30 Mbps → fitted copy, wall (preset {preset})",
                round(o, 2), "s", baseline=round(b, 2), baseline_name="plain ffmpeg, same args",
                target="ratio ≤ 1.05", ok=ratio <= 1.05, runs=runs),
            row("fit", "copy's overall bitrate vs the planned ceiling (video maxrate + audio)",
                round(got / 1e6, 3), "Mbps", baseline=round(target / 1e6, 3),
                baseline_name="target", target="within 10 %", ok=off <= 0.10,
                note=f"plain ffmpeg's copy: {plain_bps / 1e6:.3f} Mbps; "
                     f"fits: {all(p['ok'] for p in fitted['platformFit'])}"),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    rows = run()
    show(rows)
    sys.exit(1 if any(r.get("ok") is False for r in rows) else 0)
