#!/usr/bin/env python3
"""Writes the seed corpus under corpus/ (see README.md: "The seed corpus").

Run from gateway/fuzz: `python3 seeds.py`. Every seed is written here by
hand, or copied from the README or scenarios/ as named; rerunning gives the
same bytes.
"""
import os
import re
import shutil

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
CRLF = "\r\n"


def head(*lines, body=""):
    return CRLF.join(lines) + CRLF + CRLF + body


def write(target, name, data):
    os.makedirs(f"corpus/{target}", exist_ok=True)
    with open(f"corpus/{target}/{name}", "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("latin-1"))


# RFC 6455 §1.2, the opening handshake.
RFC = head(
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
)
# The h2c smuggling head: two Upgrade protocols at once.
H2C = head(
    "GET /public HTTP/1.1",
    "Host: t",
    "Upgrade: h2c",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
    "Sec-WebSocket-Version: 13",
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
)

# head: byte 0 is the read size, byte 1 the limit (16 + 32 * byte).
# "@~" reads 64 bytes at a time under a 4048-byte limit.
HEADS = {
    "rfc6455-sample": RFC,
    "h2c-smuggling": H2C,
    "plain-get-then-body": head(
        "POST /upload HTTP/1.1", "Host: h", "Transfer-Encoding: chunked", body="5\r\nhello\r\n0\r\n\r\n"
    ),
    "bare-lf": "GET / HTTP/1.1\nHost: h\n\n",
    "http10-upgrade": RFC.replace("HTTP/1.1", "HTTP/1.0", 1),
    "post-upgrade": RFC.replace("GET", "POST", 1),
    "two-keys": RFC.replace(
        "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13"
    ),
    "bad-key": RFC.replace("dGhlIHNhbXBsZSBub25jZQ==", "short"),
    "version-8": RFC.replace("Version: 13", "Version: 8"),
    "connect": head("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
    "absolute-form": head("GET http://real.example:8080/a?b=1 HTTP/1.1", "Host: spoofed.example"),
    "two-hosts": head("GET / HTTP/1.1", "Host: a", "Host: b"),
    "no-host": head("GET / HTTP/1.1", "Upgrade: websocket"),
    "connection-names-key": RFC.replace("Connection: Upgrade", "Connection: Upgrade, Sec-WebSocket-Key, Host"),
    "obs-fold": head("GET / HTTP/1.1", "Host: h", "X-Long: a", " folded"),
    "truncated": "GET /chat HTTP/1.1\r\nHost: h\r\nUpgr",
    # The first bytes of a TLS ClientHello, then line ends.
    "garbage": "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\n\r",
}
for name, text in HEADS.items():
    write("head", name, "@~" + text)
write("head", "rfc6455-sample-byte-by-byte-16b-limit", "\x01\x00" + RFC)
write("head", "rfc6455-sample-7b-reads", "\x07~" + RFC)

# headers: a flag character ('0' plain, '1' upgrade, +2 a Host override),
# then a head.
HEADERS = {
    "rfc6455-sample-upgrade": "1" + RFC,
    "h2c-smuggling-upgrade": "1" + H2C,
    "h2c-smuggling-plain": "0" + H2C,
    "hop-by-hop-everything": "0"
    + head(
        "POST /x HTTP/1.1",
        "Host: h",
        "Connection: keep-alive, X-Secret, TE",
        "Keep-Alive: timeout=5",
        "TE: trailers",
        "Trailer: X-T",
        "Transfer-Encoding: chunked",
        "Proxy-Connection: keep-alive",
        "X-Secret: 1",
    ),
    "connection-names-protected": "1"
    + head(
        "GET /chat HTTP/1.1",
        "Host: h",
        "Connection: close, Host, Sec-WebSocket-Key, Content-Length, X-Forwarded-For",
        "Upgrade: websocket",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Content-Length: 0",
    ),
    "absolute-form-userinfo": "0" + head("GET http://me:pw@real.example:8080/a?b=1 HTTP/1.1", "Host: spoofed.example"),
    "authority-form": "0" + head("CONNECT real.example:443 HTTP/1.1"),
    "host-override": "3" + RFC,
    "forwarded-chain": "0"
    + head("GET / HTTP/1.1", "Host: h", "X-Forwarded-For: 192.0.2.1", "X-Forwarded-Proto: spoofed"),
}
for name, text in HEADERS.items():
    write("headers", name, text)

# config: the README's config block, verbatim, and variations.
with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
    README_TOML = re.search(r"^```toml\n(.*?)^```$", f.read(), re.S | re.M).group(1)
write("config", "readme-example.toml", README_TOML.encode())
two_errors = re.sub(r'^request_timeout = "20s"', 'request_timeout = "0s"', README_TOML, flags=re.M)
two_errors = re.sub(r'^pool = "chat"$', 'pool = "chatt"', two_errors, flags=re.M)
write("config", "readme-example-two-errors.toml", two_errors.encode())
write(
    "config",
    "minimal.toml",
    """profile = "front-door"

[[listeners]]
name = "l"
protocol = "http"
address = "127.0.0.1:0"

[[backend_pools]]
name = "p"
addresses = ["127.0.0.1:9001"]

[[backend_settings]]
name = "s"

[[rules]]
name = "r"
listener = "l"
pool = "p"
settings = "s"
caching = true
""",
)
write(
    "config",
    "misplaced-and-misspelt.toml",
    """profile = "aplication-gateway"
request_timeout = "20s"

[[listeners]]
name = "l"
protocl = "http"
address = "not an address"
tcp_keepalive = "2y"
""",
)

# scenario: copies from scenarios/, named <profile>--<file>.
for path in [
    "application-gateway/rewrites-apply-to-the-handshake.toml",
    "application-gateway/maintenance-drop-with-retry.toml",
    "front-door/probe-sample-window.toml",
    "front-door/waf-at-establishment-only.toml",
]:
    os.makedirs("corpus/scenario", exist_ok=True)
    shutil.copyfile(os.path.join(ROOT, "scenarios", path), "corpus/scenario/" + path.replace("/", "--"))

# admin: METHOD /path?query.
ADMIN = {
    "maintenance": "POST /maintenance",
    "maintenance-drain-30s": "POST /maintenance?drain=30s",
    "maintenance-drain-zero": "POST /maintenance?drain=0s",
    "maintenance-drain-too-long": "POST /maintenance?drain=2h",
    "maintenance-drain-garbage": "POST /maintenance?x=1&drain=soon",
    "maintenance-cancel": "DELETE /maintenance",
    "sessions": "GET /sessions",
    "backends": "GET /backends",
    "wrong-method": "PUT /sessions",
    "unknown-path": "GET /nope?drain=1s",
}
for name, text in ADMIN.items():
    write("admin", name, text)
