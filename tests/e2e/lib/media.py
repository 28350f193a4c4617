"""Test media made with the real ffmpeg at test time: a fitting portrait video, an image too
small for either platform, slideshow images, bigger videos for visible progress, and a damaged
copy with a hard error. Every file has distinct bytes, so dedupe never folds two together."""

import os
import subprocess


def _ffmpeg(out, *args):
    tmp = out + ".part" + os.path.splitext(out)[1]
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-nostdin", *args, tmp], check=True)
    os.replace(tmp, out)
    return out


def fitting_video(path, seconds=4):
    """1080x1920 H.264/AAC MP4: fits TikTok and Instagram."""
    return _ffmpeg(path, "-f", "lavfi", "-i", "testsrc2=s=1080x1920:r=30", "-f", "lavfi", "-i",
                   "sine=f=440", "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast",
                   "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest")


def small_image(path):
    """800x800 JPEG: accepted, but too small for both platforms."""
    return _ffmpeg(path, "-f", "lavfi", "-i", "smptehdbars=s=800x800", "-frames:v", "1",
                   "-q:v", "3")


# Distinct lavfi sources so each slide looks (and hashes) different.
_SLIDE_SOURCES = ["testsrc2", "smptebars", "rgbtestsrc", "mandelbrot", "testsrc",
                  "yuvtestsrc", "pal100bars", "smptehdbars"]


def slide(path, index):
    """1080x1350 (4:5) JPEG or PNG, by the path's extension."""
    src = _SLIDE_SOURCES[index % len(_SLIDE_SOURCES)]
    extra = ["-q:v", "3"] if path.endswith((".jpg", ".jpeg")) else []
    return _ffmpeg(path, "-f", "lavfi", "-i", f"{src}=s=1080x1350", "-frames:v", "1", *extra)


def big_video(path, megabytes, tag):
    """A 1080x1920 H.264 MP4 of about `megabytes` MB (6 s, constant bitrate), tagged so its
    bytes differ from every other file made here."""
    bitrate = int(megabytes * 8 * 1_000_000 / 6)
    return _ffmpeg(path, "-f", "lavfi", "-i", "testsrc2=s=1080x1920:r=30", "-t", "6",
                   "-c:v", "libx264", "-preset", "ultrafast", "-b:v", str(bitrate),
                   "-minrate", str(bitrate), "-maxrate", str(bitrate), "-bufsize", str(bitrate),
                   "-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p",
                   "-metadata", f"comment=layers-e2e-{tag}")


def truncated_copy(src, path, keep=20_000):
    """The first bytes of a real MP4: an interrupted copy, refused as unreadable."""
    with open(src, "rb") as f:
        head = f.read(keep)
    with open(path, "wb") as f:
        f.write(head)
    return path


def misnamed(src_png, path):
    """A PNG's bytes under a .mp4 name: refused as an extension mismatch."""
    with open(src_png, "rb") as f, open(path, "wb") as out:
        out.write(f.read())
    return path
