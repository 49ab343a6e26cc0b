#!/usr/bin/env bash
# Load test (loopback only, bounded): 16 connections hammer the overview for 30 s while
# `credwatch serve` re-syncs a 10,000-application tenant every 5 seconds. Prints throughput,
# latency percentiles, non-2xx/socket errors, the syncs that ran, and serve's memory.
#
#   bench/load.sh [APPS] [SECONDS]      # defaults: 10000 30
set -euo pipefail
cd "$(dirname "$0")/.."
apps=${1:-10000}
secs=${2:-30}
command -v wrk >/dev/null && command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk sqlite3 >/dev/null; }
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/credwatch
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
export EMULATOR_CLIENT_SECRET=load-secret LOAD_SECRET=load-secret
"$bin" emulate --apps "$apps" --tenant load-tenant --client load-client > "$work/url" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(cat "$work/url")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/credwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$work/load.db"
[schedule]
sync = "*/5 * * * * *"
remind = ""
[[environments]]
name = "load"
tenant_id = "load-tenant"
client_id = "load-client"
client_secret_env = "LOAD_SECRET"
authority_host = "$url"
graph_url = "$url"
TOML
RUST_LOG=warn "$bin" serve --config "$work/credwatch.toml" 2> "$work/serve.log" &
serve=$!
pids+=($serve)
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
# Wait for the first sync so the overview has data.
for _ in $(seq 300); do
  n=$(sqlite3 "$work/load.db" "select count(*) from sync_runs where outcome='success'" 2>/dev/null || echo 0)
  [ "$n" -ge 1 ] && break; sleep 0.2
done
rss_max=0
( while kill -0 $serve 2>/dev/null; do ps -o rss= -p $serve; sleep 1; done ) > "$work/rss" &
pids+=($!)
runs_before=$(sqlite3 "$work/load.db" "select count(*) from sync_runs")
wrk -t2 -c16 -d"${secs}s" --latency "http://127.0.0.1:$port/" | tee "$work/wrk"
runs_after=$(sqlite3 "$work/load.db" "select count(*) from sync_runs where outcome='success'")
failed=$(sqlite3 "$work/load.db" "select count(*) from sync_runs where outcome in ('failed', 'interrupted')")
rss_max=$(sort -n "$work/rss" | tail -1)
rss_min=$(sort -n "$work/rss" | head -1)
echo "syncs during the run: $((runs_after - runs_before + failed)) started, $failed not successful"
echo "serve RSS: min $((rss_min / 1024)) MB, max $((rss_max / 1024)) MB"
