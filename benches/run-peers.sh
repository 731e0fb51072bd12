#!/usr/bin/env bash
# wsgate against nginx and HAProxy, on loopback: builds the wsgate release
# binary, optionally installs the peers, raises the open-files limit and
# runs `cargo bench -p benches --bench peers`.
#
#   benches/run-peers.sh              # peers that are not installed are skipped
#   benches/run-peers.sh --install    # apt-get install nginx haproxy first (root)
#
# Knobs (environment): WSGATE_BENCH_ROUNDS (3), WSGATE_BENCH_SECS (5),
# WSGATE_BENCH_IDLE (4000). Figures go to stdout; RESULTS.md beside this
# script says how the recorded ones were taken.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--install" ]]; then
    export WSGATE_BENCH_INSTALL=1
fi
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }
if [[ "${WSGATE_BENCH_INSTALL:-}" == "1" ]] && ! { have nginx && have haproxy; }; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx haproxy
fi

cargo build --release -p conformance

# 4000 idle sessions hold 4000 client and 4000 backend sockets in the bench
# process, and twice that in the proxy. Raise the soft limit as far as the
# hard limit allows; the bench says so if it is still too low.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "ulimit -n: $(ulimit -n)"

exec cargo bench -p benches --bench peers
