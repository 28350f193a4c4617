#!/usr/bin/env python3
"""Runs every benchmark (`make bench` builds the release binaries first, then calls this) and
writes `bench/RESULTS.md`: the machine, the date, the commit, every median, ratio and pass/fail.

  BENCH_QUICK=1     fewer rounds and smaller sets (checks the suite; writes bench/out/ instead)
  BENCH_ONLY=a,b    run only these benchmarks (put_throughput, memory, inspection, probe_cache, watch,
                    queue_scale, fit, app)
  BENCH_CONDITIONS  a line describing the run's conditions, printed in RESULTS.md
  BENCH_ROUNDS=N    rounds per benchmark in full mode (default: 5, 3 for the slow ones)
  BENCH_IMAGES=N, BENCH_VIDEOS=N, BENCH_PUT_FILES=N   smaller sets (noted in RESULTS.md)
"""

import datetime
import json
import os
import platform
import subprocess
import sys
import time
import traceback

import common

BENCHES = ["put_throughput", "memory", "inspection", "probe_cache", "watch", "queue_scale", "fit",
           "shared_queue"]
OVERRIDES = ["BENCH_ROUNDS", "BENCH_IMAGES", "BENCH_VIDEOS", "BENCH_PUT_FILES", "BENCH_PUT_PIN",
             "BENCH_PUT_LINK", "BENCH_PUT_LINK_FILES", "BENCH_FIT_PRESET"]
APP_SCRIPT = os.path.join(common.HERE, "app_figures.py")


def machine():
    def first(path, key):
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith(key):
                        return line.split(":", 1)[1].strip() if ":" in line else line
        except OSError:
            pass
        return "?"
    os_name = first("/etc/os-release", "PRETTY_NAME")
    os_name = os_name.split("=", 1)[-1].strip('"\n') if os_name != "?" else platform.system()
    mem_kib = first("/proc/meminfo", "MemTotal").split()[0]
    return {
        "cpu": first("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "ram_gib": round(int(mem_kib) / 2**20, 1) if mem_kib.isdigit() else "?",
        "os": f"{os_name}, Linux {platform.release()}",
    }


def git(*args):
    try:
        return subprocess.run(["git", *args], cwd=common.ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def app_rows():
    if not os.path.exists(APP_SCRIPT):
        print("app: skipped — bench/app_figures.py is not here (it comes with the app's "
              "end-to-end tests)", flush=True)
        return [common.row("app", "app figures", "skipped", "",
                           note="bench/app_figures.py not present on this branch")]
    runs = str(common.rounds(5, 1))
    r = subprocess.run([sys.executable, APP_SCRIPT, "--no-build", "--json", "--runs", runs],
                       capture_output=True, text=True, cwd=common.ROOT)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    if r.returncode != 0 or not lines:
        raise RuntimeError(f"app_figures.py exited {r.returncode}: {r.stderr[-1500:]}")
    fig = json.loads(lines[-1])
    rows = [common.row("app", "cold start to first paint (Xvfb)", fig["ready_ms_median"], "ms",
                       runs=[s["ready_ms"] for s in fig.get("starts", [])])]
    for label, key in (("idle after start", "idle"), ("with 1,000 posts", "thousand")):
        m = fig[key]
        rows.append(common.row("app", f"RSS {label}: app process (all processes' PSS)",
                               f"{m['app_rss_mib']:.0f} ({m['total_pss_mib']:.0f})", "MiB"))
    return rows


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:.1f}"
    return str(v)


def write_results(path, info, rows, took):
    status = {True: "pass", False: "**FAIL**", None: ""}
    lines = [
        "# Benchmark results",
        "",
        f"- Date: {info['date']}",
        f"- Commit: `{info['commit']}`{' (with local changes)' if info['dirty'] else ''}",
        f"- Machine: {info['machine']['cpu']}, {info['machine']['cores']} cores, "
        f"{info['machine']['ram_gib']} GiB RAM, {info['machine']['os']}",
        f"- Load average at start / end: {info['load_start']} / {info['load_end']}",
        f"- Conditions: {info['conditions']}",
        f"- Mode: {'quick (BENCH_QUICK=1: fewer rounds, smaller sets)' if common.QUICK else 'full'}; "
        f"suite wall time {took / 60:.1f} min"
        + "".join(f"; {k}={os.environ[k]}" for k in OVERRIDES if k in os.environ),
        "",
        "Medians of alternating runs (ours, baseline, ours, …). Ratio = ours / baseline: below 1 "
        "is faster (or smaller) than the baseline. Produced by `make bench` (bench/run_all.py).",
        "",
        "| Benchmark | Measure | Ours | Baseline | Ratio | Target | Result |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        unit = f" {r['unit']}" if r.get("unit") else ""
        base = (f"{fmt(r['baseline'])}{unit} ({r['baseline_name']})"
                if "baseline" in r else "—")
        lines.append(f"| {r['bench']} | {r['measure']} | {fmt(r['ours'])}{unit} | {base} | "
                     f"{fmt(r.get('ratio', '—'))} | {r.get('target', '—')} | "
                     f"{status[r.get('ok')]}{' — ' + r['note'] if r.get('note') else ''} |")
    lines += ["", "Every run's figures, per benchmark:", "", "```"]
    lines += [json.dumps({k: r[k] for k in ("bench", "measure", "runs") if k in r})
              for r in rows if "runs" in r]
    lines += ["```", ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main():
    only = [b for b in os.environ.get("BENCH_ONLY", "").split(",") if b]
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "machine": machine(),
        "load_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "conditions": os.environ.get("BENCH_CONDITIONS", "not stated"),
    }
    started = time.monotonic()
    rows = []
    for name in BENCHES + ["app"]:
        if only and name not in only:
            continue
        print(f"== {name}", flush=True)
        t = time.monotonic()
        try:
            got = app_rows() if name == "app" else __import__(name).run()
        except Exception as e:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            got = [common.row(name, "did not finish", "error", "", target="runs", ok=False,
                              note=str(e).splitlines()[0][:200] if str(e) else type(e).__name__)]
        common.show(got)
        print(f"   ({time.monotonic() - t:.0f} s)", flush=True)
        rows += got
    took = time.monotonic() - started
    info["load_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out_dir = os.path.join(common.HERE, "out")
    os.makedirs(out_dir, exist_ok=True)
    path = (os.path.join(out_dir, "RESULTS-quick.md") if common.QUICK or only
            else os.path.join(common.HERE, "RESULTS.md"))
    write_results(path, info, rows, took)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"info": info, "rows": rows}, f, indent=1)
    print(f"wrote {os.path.relpath(path, common.ROOT)} ({took / 60:.1f} min)")
    return 1 if any(r.get("ok") is False for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
