#!/usr/bin/env python3
"""Open, echo one message, close: N cycles against a WebSocket echo, printing
the echo process's RSS every `every` cycles. Usage: cycles.py HOST:PORT PID N EVERY [PARALLEL]"""
import os, socket, sys, base64, struct

def rss_kib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

def frame(opcode, payload):
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked

def recv_until(s, marker):
    buf = b""
    while marker not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    return buf

def open_session(host, port):
    """Connects, upgrades and echoes one 64 B binary message."""
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

def close_session(s, wait=False):
    """Sends a Close frame; with `wait`, reads until the echo closes too."""
    s.sendall(frame(0x8, struct.pack("!H", 1000)))
    if wait:
        try:
            while s.recv(4096):
                pass
        except OSError:
            pass
    s.close()

def cycle(host, port):
    close_session(open_session(host, port), wait=True)

if __name__ == "__main__":
  addr, pid, n, every = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
  host, port = addr.rsplit(":", 1)
  print(f"cycles 0: rss {rss_kib(pid)} KiB", flush=True)
  for i in range(1, n + 1):
      cycle(host, int(port))
      if i % every == 0:
          print(f"cycles {i}: rss {rss_kib(pid)} KiB", flush=True)
