#!/usr/bin/env python3
"""PUT throughput: ten 90 MB videos per-file through `layers-upload upload` vs curl, same sandbox.

Both sides include create-session and finalize; ours also includes its local inspection (probe +
sha-256 of every file). The baseline is what a careful script would do by hand: one create call,
`curl -T` of each file to its presigned URL with the same parallelism, one finalize per item.
Runs alternate (ours, curl, ours, ...) and the medians and their ratio are printed as JSON.
"""

import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from common import RELEASE, start_sandbox, media_dir, make_video

FILES = int(os.environ.get("BENCH_PUT_FILES", "10"))
MB = int(os.environ.get("BENCH_PUT_MB", "90"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
PARALLEL = 3
KEY = "lp_live_bench_notasecret"


def videos():
    src = make_video(f"put-{MB}mb.mp4", MB)
    out = []
    for i in range(FILES):
        path = os.path.join(media_dir(), f"put-{MB}mb-{i}.mp4")
        if not os.path.exists(path):
            shutil.copyfile(src, path)
        out.append(path)
    return out


def ours(base, project, files):
    data = tempfile.mkdtemp(prefix="bench-data-")
    env = dict(os.environ, LAYERS_API_KEY=KEY, LAYERS_API_BASE=base, LAYERS_PROJECT_ID=project,
               LAYERS_UPLOADER_DATA_DIR=data)
    t = time.monotonic()
    subprocess.run([os.path.join(RELEASE, "layers-upload"), "upload", "--force",
                    "--concurrency", str(PARALLEL), *files],
                   env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.monotonic() - t
    shutil.rmtree(data, ignore_errors=True)
    return took


def api(base, method, path, body):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {KEY}",
                                          "Content-Type": "application/json",
                                          "Idempotency-Key": os.urandom(16).hex()})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def baseline(base, project, files):
    t = time.monotonic()
    declared = [{"filename": os.path.basename(f), "contentType": "video/mp4",
                 "sizeBytes": os.path.getsize(f)} for f in files]
    session = api(base, "POST", f"/v1/projects/{project}/content/uploads",
                  {"files": declared, "grouping": "per-file"})

    def put(pair):
        f, upload = pair
        subprocess.run(["curl", "-sf", "-o", "/dev/null", "-T", f, "-H", "Content-Type: video/mp4",
                        upload["files"][0]["uploadUrl"]], check=True)
        return upload["containerId"]

    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        containers = list(pool.map(put, zip(files, session["uploads"])))
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda c: api(base, "POST", f"/v1/content/{c}/finalize-upload",
                                    {"caption": ""}), containers))
    return time.monotonic() - t


def main():
    files = videos()
    with start_sandbox() as (base, project):
        mine, theirs = [], []
        for _ in range(RUNS):
            mine.append(ours(base, project, files))
            theirs.append(baseline(base, project, files))
    m, b = statistics.median(mine), statistics.median(theirs)
    total = sum(os.path.getsize(f) for f in files)
    print(json.dumps({
        "bench": "put_throughput", "files": FILES, "mb_each": MB, "parallel": PARALLEL,
        "ours_s": round(m, 3), "curl_s": round(b, 3), "ratio": round(m / b, 3),
        "ours_mib_s": round(total / m / 2**20, 1), "curl_mib_s": round(total / b / 2**20, 1),
        "ours_runs": [round(x, 3) for x in mine], "curl_runs": [round(x, 3) for x in theirs],
    }))


if __name__ == "__main__":
    sys.exit(main())
