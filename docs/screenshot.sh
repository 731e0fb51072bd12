#!/bin/sh
# Takes the README's report screenshots from the whole scenario library:
#   docs/report.png            the top of index.html (summary and matrix)
#   docs/timeline.png          a maintenance drop: 1006s with their causes, reconnects
#   docs/timeline-probes.png   a backend leaving the pool: sessions move to the other
#
# Usage: docs/screenshot.sh [OUT_DIR]    (run from the repository root)
# Needs Debian's chromium (apt-get install chromium), or CHROMIUM=/path.
# conformance/tests/screenshot.rs checks the same renderings under cargo test.
set -eu

out=${1:-$(mktemp -d)}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$browser" ]; then
    echo "no chromium found: apt-get install chromium, or set CHROMIUM=/path/to/chrome" >&2
    exit 1
fi

cargo run --release -q -p conformance --bin wsgate -- run scenarios --out "$out" --check-determinism >/dev/null

# shot PAGE PNG WIDTH HEIGHT
shot() {
    profile=$(mktemp -d)
    "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$profile" --screenshot="$2" \
        --window-size="$3,$4" "file://$1" >/dev/null 2>&1
    rm -rf "$profile"
    test -s "$2" || { echo "no screenshot of $1" >&2; exit 1; }
}

# An SVG's own width and height, so its screenshot has no empty margin.
size() {
    head -1 "$1" | sed -n 's/.*width="\([0-9]*\)" height="\([0-9]*\)".*/\1 \2/p'
}

shot "$(cd "$out" && pwd)/index.html" docs/report.png 1400 1000
for pair in \
    "front-door__maintenance-drop-with-retry timeline" \
    "application-gateway__failing-probes-take-a-backend-out timeline-probes"; do
    set -- $pair
    svg="$(cd "$out" && pwd)/timelines/scenarios__$1.svg"
    set -- "$svg" "docs/$2.png" $(size "$svg")
    shot "$1" "$2" "$3" "$4"
done
echo "reports in $out; screenshots in docs/"
