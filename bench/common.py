"""Shared pieces of the benchmarks: where the release binaries are, a sandbox to talk to, and
generated media (cached under bench/out so repeated runs do not regenerate it)."""

import contextlib
import os
import shutil
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "..", "target"))
RELEASE = os.path.join(TARGET, "release")


def media_dir():
    path = os.path.join(HERE, "out", "media")
    os.makedirs(path, exist_ok=True)
    return path


def make_video(name, megabytes):
    """A valid H.264 MP4 of about `megabytes` MB (high bitrate noise, 6 s)."""
    path = os.path.join(media_dir(), name)
    if os.path.exists(path):
        return path
    bitrate = int(megabytes * 8 * 1_000_000 / 6)
    tmp = path + ".tmp.mp4"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-nostdin", "-f", "lavfi", "-i",
                    "testsrc2=s=1080x1920:r=30", "-t", "6", "-c:v", "libx264", "-preset", "ultrafast",
                    "-b:v", str(bitrate), "-minrate", str(bitrate), "-maxrate", str(bitrate),
                    "-bufsize", str(bitrate), "-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p",
                    tmp], check=True)
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def start_sandbox(*flags):
    """A release `layers-sandbox` on an ephemeral port; yields (base_url, project_id)."""
    data = tempfile.mkdtemp(prefix="bench-sandbox-")
    proc = subprocess.Popen([os.path.join(RELEASE, "layers-sandbox"), "--port", "0",
                             "--data-dir", data, *flags],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        base = proc.stdout.readline().split()[1]
        project = proc.stdout.readline().split()[1]
        yield base, project
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(data, ignore_errors=True)
