#!/usr/bin/env python3
"""Rounds of N concurrent sessions against a WebSocket echo: open all
(upgrade, echo one 64 B message), then close all; the echo's RSS after each
open and each close. Usage: concurrent.py HOST:PORT PID N ROUNDS"""
import os, socket, sys, base64, struct, time
sys.path.insert(0, os.path.dirname(__file__))
from cycles import frame, recv_until, rss_kib  # noqa: E402

def open_session(host, port):
    s = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /chat HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = recv_until(s, b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head[:40]
    s.sendall(frame(0x2, b"x" * 64))
    got = head.split(b"\r\n\r\n", 1)[1]
    while len(got) < 66:
        got += s.recv(4096)
    return s

def close_session(s):
    s.sendall(frame(0x8, struct.pack("!H", 1000)))
    s.close()

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
