#!/usr/bin/env python3
"""Rounds of N concurrent sessions against a WebSocket echo: open all
(upgrade, echo one 64 B message), then close all; the echo's RSS after each
open and each close. Usage: concurrent.py HOST:PORT PID N ROUNDS"""
import os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
from cycles import close_session, open_session, rss_kib  # noqa: E402

if __name__ == "__main__":
    addr, pid, n, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    print(f"start: rss {rss_kib(pid)} KiB", flush=True)
    for r in range(1, rounds + 1):
        sessions = [open_session(host, int(port)) for _ in range(n)]
        time.sleep(1)
        opened = rss_kib(pid)
        for s in sessions:
            close_session(s)
        time.sleep(2)
        print(f"round {r}: {n} open: rss {opened} KiB; all closed: rss {rss_kib(pid)} KiB", flush=True)
