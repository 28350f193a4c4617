#!/usr/bin/env python3
"""An emulated wide-area link for the benchmarks: two network namespaces (`lbsrv`, `lbcli`) joined
by a user-space wire that delays every IP packet one way and serialises it at a fixed rate, like
`tc netem delay 20ms rate 200mbit` on both ends would (this machine's kernel has no netem; it has
TUN). Root only.

    lbcli: client ── 127.0.0.1:P ── relay ──tun 10.77.0.2══ wire (20 ms, 25 MB/s each way) ══
    lbsrv: 10.77.0.1 ── relay ── 127.0.0.1:P sandbox

The client must see a loopback API base (it refuses plain http elsewhere, and refuses upload
links to private addresses unless the API base is loopback), so a TCP relay in each namespace
joins loopback to the wire. Every byte of ours and of curl crosses the same relays and wire; their
CPU is reported per run for both sides.

    python3 link.py wire DELAY_MS RATE_BYTES_PER_S QUEUE_BYTES   (run by `Link`)
    python3 link.py relay LISTEN_HOST PORT TO_HOST               (run inside a namespace)

Python 3.11 standard library only (ctypes for setns, fcntl for TUN).
"""

import contextlib
import ctypes
import fcntl
import heapq
import os
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time

SERVER_NS, CLIENT_NS = "lbsrv", "lbcli"
SERVER_IP, CLIENT_IP = "10.77.0.1", "10.77.0.2"
TUN = "lbtun"
#: Jumbo frames keep the wire's packet rate (so its CPU) low: ~2,800 packets/s at 25 MB/s.
MTU = 9000
CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000


def available():
    """Why the link cannot be made here, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if not os.path.exists("/dev/net/tun"):
        return "no /dev/net/tun"
    if subprocess.run(["ip", "-V"], capture_output=True).returncode != 0:
        return "no `ip` (apt-get install iproute2)"
    return None


def ns(name, *cmd):
    return ["ip", "netns", "exec", name, *cmd]


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def cpu_seconds(pid):
    """CPU time (user + system) of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_tun_in(netns):
    """A TUN device created inside `netns` (this thread enters it, then returns)."""
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {netns}")
        fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", TUN.encode(), IFF_TUN | IFF_NO_PI))
        os.set_blocking(fd, False)
        return fd
    finally:
        libc.setns(home, CLONE_NEWNET)
        os.close(home)
        os.close(target)


def wire(delay_s, rate, queue_limit):
    """Moves packets between the two namespaces' TUNs: each waits for the link to be free
    (serialisation at `rate`), then `delay_s`; a full queue drops (a router's tail drop)."""
    a, b = open_tun_in(SERVER_NS), open_tun_in(CLIENT_NS)
    for name, ip, peer in ((SERVER_NS, SERVER_IP, CLIENT_IP), (CLIENT_NS, CLIENT_IP, SERVER_IP)):
        sh(*ns(name, "ip", "addr", "add", ip, "peer", peer, "dev", TUN))
        sh(*ns(name, "ip", "link", "set", TUN, "mtu", str(MTU), "up"))
    print("READY", flush=True)
    free_at = {a: 0.0, b: 0.0}
    queued = {a: 0, b: 0}
    pending = []  # (deliver_at, seq, from_fd, packet)
    seq = 0
    sel = selectors.DefaultSelector()
    sel.register(a, selectors.EVENT_READ)
    sel.register(b, selectors.EVENT_READ)
    while True:
        now = time.monotonic()
        while pending and pending[0][0] <= now:
            _, _, src, pkt = heapq.heappop(pending)
            queued[src] -= len(pkt)
            with contextlib.suppress(OSError):
                os.write(b if src == a else a, pkt)
        timeout = max(0.0, pending[0][0] - time.monotonic()) if pending else None
        for key, _ in sel.select(timeout):
            src = key.fd
            for _ in range(64):  # drain a burst before looking at the clock again
                try:
                    pkt = os.read(src, 65536)
                except BlockingIOError:
                    break
                now = time.monotonic()
                if queued[src] + len(pkt) > queue_limit:
                    continue
                free_at[src] = max(now, free_at[src]) + len(pkt) / rate
                seq += 1
                heapq.heappush(pending, (free_at[src] + delay_s, seq, src, pkt))
                queued[src] += len(pkt)
                if not sel.select(0):
                    break


def relay(listen_host, port, to_host):
    """Accepts on listen_host:port and joins each connection to to_host:port, both ways."""
    srv = socket.create_server((listen_host, port), backlog=64)
    print("READY", flush=True)

    def pump(src, dst):
        try:
            while data := src.recv(262144):
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    while True:
        conn, _ = srv.accept()
        try:
            up = socket.create_connection((to_host, port))
        except OSError:
            conn.close()
            continue
        for s in (conn, up):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(conn, up), daemon=True).start()
        threading.Thread(target=pump, args=(up, conn), daemon=True).start()


class Link:
    """Makes the namespaces and the wire; `relays(port)` joins a sandbox's port across them;
    `close()` tears everything down (also after a failure half-way)."""

    def __init__(self, delay_ms=20, rate=25_000_000, queue_bytes=2_000_000):
        self.procs = []
        self.delay_ms, self.rate = delay_ms, rate
        try:
            for name in (SERVER_NS, CLIENT_NS):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
                sh("ip", "netns", "add", name)
                sh(*ns(name, "ip", "link", "set", "lo", "up"))
            self.wire = self._start([sys.executable, os.path.abspath(__file__), "wire",
                                     str(delay_ms), str(rate), str(queue_bytes)])
        except Exception:
            self.close()
            raise

    def _start(self, cmd):
        # stdin is a pipe from us: when this process dies, the helper sees EOF and exits.
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        if proc.stdout.readline().strip() != "READY":
            raise RuntimeError(f"{' '.join(cmd)} did not start")
        return proc

    def relays(self, port):
        """Relays for a sandbox on the server side's 127.0.0.1:port (made visible as the client
        side's 127.0.0.1:port)."""
        me = os.path.abspath(__file__)
        self.server_relay = self._start(ns(SERVER_NS, sys.executable, me, "relay", SERVER_IP,
                                           str(port), "127.0.0.1"))
        self.client_relay = self._start(ns(CLIENT_NS, sys.executable, me, "relay", "127.0.0.1",
                                           str(port), SERVER_IP))

    def pids(self):
        """The processes the link's CPU is counted from (wire and both relays)."""
        return [p.pid for p in self.procs]

    def describe(self):
        return (f"user-space wire between two netns: {self.delay_ms} ms each way "
                f"({2 * self.delay_ms} ms RTT), {self.rate / 1e6:.0f} MB/s each way, MTU {MTU}, "
                "TCP relays to loopback on both ends")

    def close(self):
        for p in reversed(self.procs):
            p.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(5)
        for name in (SERVER_NS, CLIENT_NS):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


def exit_with_parent():
    """Exits when stdin (a pipe from the bench) closes, so a killed bench leaves no helper."""
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()


if __name__ == "__main__":
    exit_with_parent()
    if sys.argv[1] == "wire":
        wire(float(sys.argv[2]) / 1000, float(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1] == "relay":
        relay(sys.argv[2], int(sys.argv[3]), sys.argv[4])
