#!/usr/bin/env python3
"""Memory: peak RSS of `layers-upload upload` for a ~100 MiB and a ~2 GiB video, with the
sandbox's and the client's video caps raised to 3 GiB. Peak RSS is the uploader process's own
(`common.peak_rss`: GNU `time -f %M` around it, cross-checked by polling its `VmHWM`) — not
this bench's wait4 `ru_maxrss`, which carries the Python parent's ~25 MiB high-water mark into
every child. The reference is `curl -T` of the same file (create and finalize done by the
bench), alternately. Target: ≤ 32 MiB at both sizes, and flat (2 GiB minus 100 MiB ≤ 4 MiB).

The 2 GiB video is a stream-copy concatenation of one high-bitrate encode: made once, in
seconds, stored beside the build and reused.
"""

import os
import shutil
import sys
import tempfile

from common import (GIB, MIB, UPLOAD, alternate, ffmpeg, make_video, med, media_dir, peak_rss,
                    rounds, row, show, start_sandbox)

CAP = 3 * GIB
FLAT_MIB = 4
MAX_MIB = 32


def big_video(target_bytes):
    """A valid MP4 of at least `target_bytes`: the same clip concatenated (no re-encode)."""
    path = os.path.join(media_dir(), f"mem-{target_bytes // MIB}mib.mp4")
    if os.path.exists(path):
        return path
    clip = make_video("mem-100mib.mp4", 100 * MIB / 1e6)
    copies = -(-target_bytes // os.path.getsize(clip))
    listing = path + ".txt"
    with open(listing, "w") as f:
        f.write("".join(f"file '{clip}'\n" for _ in range(copies)))
    tmp = path + ".tmp.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", tmp)
    os.replace(tmp, path)
    os.remove(listing)
    return path


def ours(sandbox, data, path, label):
    # One data dir for the whole benchmark, as a user has: the 100 MiB uploads measure the
    # throughput that lets the 2 GiB one be planned (with none measured, the client assumes a
    # slow 2 MB/s link and refuses a session whose links would expire first). `--force`
    # because the same file is uploaded again each round.
    env = sandbox.env(data, LAYERS_VIDEO_CAP_BYTES=str(CAP))
    try:
        _, kib, polled = peak_rss([UPLOAD, "upload", "--force", path], env=env)
    finally:
        sandbox.clear()
    POLLED.setdefault((label, "ours"), []).append(polled)
    return kib / 1024


def curl(sandbox, path, label):
    session = sandbox.call("POST", f"/v1/projects/{sandbox.project}/content/uploads",
                           {"files": [{"filename": os.path.basename(path),
                                       "contentType": "video/mp4",
                                       "sizeBytes": os.path.getsize(path)}],
                            "grouping": "per-file"})
    upload = session["uploads"][0]
    _, kib, polled = peak_rss(["curl", "-sf", "-o", "/dev/null", "-T", path,
                       "-H", "Content-Type: video/mp4", upload["files"][0]["uploadUrl"]])
    sandbox.call("POST", f"/v1/content/{upload['containerId']}/finalize-upload", {"caption": ""})
    sandbox.clear()
    POLLED.setdefault((label, "curl"), []).append(polled)
    return kib / 1024


#: The polled VmHWM (KiB) of each run, beside GNU time's figure: they should agree.
POLLED = {}


def run():
    big = big_video(2 * GIB)
    small = make_video("mem-100mib.mp4", 100 * MIB / 1e6)
    out = {}
    data = tempfile.mkdtemp(prefix="bench-mem-")
    try:
        with start_sandbox("--video-cap-bytes", str(CAP)) as sandbox:
            for label, path in (("100 MiB", small), ("2 GiB", big)):
                out[label] = alternate(rounds(3, 1), {
                    "ours": lambda p=path, l=label: ours(sandbox, data, p, l),
                    "curl": lambda p=path, l=label: curl(sandbox, p, l)})
    finally:
        shutil.rmtree(data, ignore_errors=True)
    s, b = med(out["100 MiB"]["ours"]), med(out["2 GiB"]["ours"])
    rows = []
    for label, path in (("100 MiB", small), ("2 GiB", big)):
        o, c = med(out[label]["ours"]), med(out[label]["curl"])
        rows.append(row("memory", f"peak RSS, upload of {os.path.getsize(path) / MIB:.0f} MiB "
                        f"({label} case)", round(o, 1), "MiB", baseline=round(c, 1),
                        baseline_name="curl -T", target=f"≤ {MAX_MIB} MiB", ok=o <= MAX_MIB,
                        runs={k: [round(x, 1) for x in v] for k, v in out[label].items()}))
        rows[-1]["runs"]["polled_vmhwm"] = {
            side: [round(x / 1024, 1) if x else None for x in POLLED.get((label, side), [])]
            for side in ("ours", "curl")}
    rows.append(row("memory", "peak RSS growth, 100 MiB → 2 GiB", round(b - s, 1) + 0.0, "MiB",
                    target=f"≤ {FLAT_MIB} MiB", ok=b - s <= FLAT_MIB))
    return rows


if __name__ == "__main__":
    sys.exit(show(run()))
