#!/usr/bin/env bash
# Page benchmark (not a test): about 200,000 credentials synced from the Graph emulator into a
# SQLite file (3 environments x APPS applications, ~2.1 credentials each), then wrk with 16
# connections against the overview and a filtered inventory page, and the server's memory over
# the runs. Usage: bench/pages.sh [APPS per environment, default 32000] [seconds per run, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
apps="${1:-32000}"
secs="${2:-20}"
need() { command -v "$1" >/dev/null 2>&1; }
if ! need wrk || ! need curl; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk curl >/dev/null
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --release --example browser_fixture
work="$(mktemp -d)"
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() {
    RUST_LOG=error "$target/release/examples/browser_fixture" --listen 127.0.0.1:0 --db "$work/cw.db" "$@" >"$work/out" 2>"$work/err" &
    server=$!
    until grep -q '^READY ' "$work/out" 2>/dev/null; do
        kill -0 "$server" 2>/dev/null || { cat "$work/err"; exit 1; }
        sleep 0.5
    done
    base="$(sed -n 's/^READY //p' "$work/out")"
}
rss() { awk '/VmRSS/ {print $2 " kB"}' "/proc/$server/status"; }

echo "seeding: 3 environments x $apps applications through the emulator and a real sync..."
t0=$(date +%s); start --apps "$apps"; echo "seeded in $(( $(date +%s) - t0 )) s"
# Serve the seeded file from a fresh process, so the figures are the web side's alone.
kill "$server"; wait "$server" 2>/dev/null || true; rm -f "$work/out"
start --no-sync --apps 0
curl -fsS "$base/api/v1/environments" | tr ',' '\n' | grep '"credentials"' | paste -sd' ' | sed 's/^/stored: /'
echo "RSS at start: $(rss)"
for url in "/" "/environments/prod?status=warning" "/environments/prod?status=ok&page=40" "/environments/dev?q=payroll&kind=secret"; do
    curl -fsS -o /dev/null -w "cold $url: %{time_total}s, %{size_download} bytes\n" "$base$url"
done
# Page 40 of prod's ok credentials, reached the way a person would: following "Next".
deep="/environments/prod?status=ok"
for _ in $(seq 1 39); do
    deep="$(curl -fsS "$base$deep" | grep -o 'rel="next" href="[^"]*"' | sed 's/^rel="next" href="//; s/"$//; s/&amp;/\&/g; s/&#38;/\&/g')"
done
echo "page 40: $deep"
for url in "/" "/environments/prod?status=warning" "$deep" "/environments/prod?status=ok&page=40"; do
    echo "== wrk -t2 -c16 -d${secs}s $url"
    wrk -t2 -c16 -d"${secs}s" --latency "$base$url" | grep -E '^\s+(50|90|99)%|Requests/sec|requests in|Non-2xx|Socket errors'
    echo "RSS after: $(rss)"
done

# Memory over repeated load: the same pages again, RSS after each batch of requests. Flat means the
# last figures stop growing (SQLite page caches and allocator arenas fill once, then stay).
for round in 1 2 3; do
    for url in "/" "/environments/prod?status=warning" "$deep"; do
        wrk -t2 -c16 -d6s "$base$url" | grep -E 'requests in' | sed "s|^|round $round $url: |"
    done
    echo "RSS after round $round: $(rss)"
done
