#!/usr/bin/env bash
# Scale benchmark (not a test). For each N applications (about 2.1 credentials each, realistic
# names) served by the built-in Graph emulator in its own process on loopback, with a release
# build of credwatch:
#   - wall time and peak memory (max RSS) of `credwatch sync`: first into an empty database,
#     again with nothing changed, and after 1% of the credentials changed;
#   - the database size;
#   - how long serve takes after a first sync to build the credential API's stored answers
#     (migration 0017), waited for before the rest;
#   - the default calendar feed alone, first thing after that: size, events, time, and serve's
#     peak memory after it;
#   - median and p99 latency of the overview, a filtered inventory page, two searches (a common
#     term and one that matches nothing) and /metrics under 16 concurrent clients (wrk);
#   - the throughput of one client reading the big answers: /api/v1/credentials?within_days=7,
#     the CSV of everything, /metrics (best of three, MB/s).
# Prints a table and writes it as JSON (default bench/scale.json).
#
#   bench/scale.sh [N ...]          # default: 1000 10000 100000
#   SECS=10 OUT=results.json bench/scale.sh 100000
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-1000 10000 100000}")
[ $# -eq 0 ] && sizes=(1000 10000 100000)
secs=${SECS:-10}
out=${OUT:-bench/scale.json}
command -v wrk >/dev/null && command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk curl >/dev/null; }
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/credwatch
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export EMULATOR_CLIENT_SECRET=scale-secret SCALE_SECRET=scale-secret SCALE_CAL=scale-calendar-token
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ms() { # wrk latency value ("812.00us", "4.07ms", "1.20s") in milliseconds
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}
rows=()
printf '%-8s %-22s %10s %10s %10s\n' apps measure value unit extra
for n in "${sizes[@]}"; do
  "$bin" emulate --apps "$n" --tenant scale-tenant --client scale-client > "$work/url" &
  emu=$!; pids+=($emu)
  for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(cat "$work/url")
  rm -f "$work"/scale.db*
  port=$(free_port)
  cat > "$work/credwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[database]
url = "sqlite://$work/scale.db"
[schedule]
sync = ""
remind = ""
[calendar]
token_env = "SCALE_CAL"
[[environments]]
name = "bench"
tenant_id = "scale-tenant"
client_id = "scale-client"
client_secret_env = "SCALE_SECRET"
authority_host = "$url"
graph_url = "$url"
TOML
  for run in first unchanged changed_1pct; do
    [ "$run" = changed_1pct ] && curl -fsS -X POST "$url/_emulator/rotate?every=100" > /dev/null
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" sync --config "$work/credwatch.toml" > "$work/out"
    read -r wall rss < "$work/time"
    rss_mb=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')
    summary=$(sed -n 's/^bench: ok, //p' "$work/out")
    printf '%-8s %-22s %10s %10s %10s\n' "$n" "sync_$run" "$wall" s "${rss_mb}MB"
    rows+=("{\"apps\":$n,\"measure\":\"sync_$run\",\"seconds\":$wall,\"max_rss_mb\":$rss_mb,\"summary\":\"$summary\"}")
  done
  sqlite3 "$work/scale.db" "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null 2>&1 || true
  db_mb=$(du -cm "$work"/scale.db* | tail -1 | cut -f1)
  printf '%-8s %-22s %10s %10s\n' "$n" db_size "$db_mb" MB
  rows+=("{\"apps\":$n,\"measure\":\"db_size\",\"mb\":$db_mb}")

  started=$(date +%s.%N)
  RUST_LOG=warn "$bin" serve --config "$work/credwatch.toml" 2> "$work/serve.log" &
  srv=$!; pids+=($srv)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  base="http://127.0.0.1:$port"
  # serve builds the stored answers of the credential API after a first sync (migration 0017);
  # until then the API reads the long way. Measured here, and waited for: the rest measures
  # the steady state.
  for _ in $(seq 1200); do
    python3 -c 'import sqlite3, sys; d = sqlite3.connect(sys.argv[1]); sys.exit(0 if d.execute("SELECT NOT EXISTS (SELECT 1 FROM answer_rows_stale) AND EXISTS (SELECT 1 FROM answer_rows_basis)").fetchone()[0] else 1)' "$work/scale.db" 2>/dev/null && break
    sleep 0.1
  done
  ready=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }')
  hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$srv/status")
  printf '%-8s %-22s %10s %10s %10s\n' "$n" answers_ready "$ready" s "serve peak $((hwm / 1024))MB"
  rows+=("{\"apps\":$n,\"measure\":\"answers_ready\",\"seconds\":$ready,\"serve_peak_mb\":$((hwm / 1024))}")
  # The feed next, so that serve's peak memory after it is the feed's (or the answers' rebuild's).
  read -r bytes secs_feed < <(curl -fsS -o "$work/feed.ics" -w '%{size_download} %{time_total}\n' "$base/calendar.ics?token=scale-calendar-token")
  events=$(grep -c '^BEGIN:VEVENT' "$work/feed.ics" || true)
  name=$(sed -n 's/^X-WR-CALNAME://p' "$work/feed.ics" | tr -d '\r')
  hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$srv/status")
  feed_mb=$(awk -v b="$bytes" 'BEGIN { printf "%.2f", b / 1e6 }')
  printf '%-8s %-22s %10s %10s %10s %s\n' "$n" feed_default "$feed_mb" MB "${secs_feed}s" "$events events, serve peak $((hwm / 1024)) MB, \"$name\""
  rows+=("{\"apps\":$n,\"measure\":\"feed_default\",\"mb\":$feed_mb,\"seconds\":$secs_feed,\"events\":$events,\"serve_peak_mb\":$((hwm / 1024))}")
  for path in "/api/v1/credentials?within_days=7" "/api/v1/credentials.csv" "/metrics"; do
    best=0; size=0
    for _ in 1 2 3; do
      read -r size t < <(curl -fsS -o /dev/null -w '%{size_download} %{time_total}\n' "$base$path")
      best=$(awk -v s="$size" -v t="$t" -v b="$best" 'BEGIN { r = s / 1e6 / t; printf "%.1f", (r > b ? r : b) }')
    done
    size_mb=$(awk -v b="$size" 'BEGIN { printf "%.1f", b / 1e6 }')
    printf '%-8s %-22s %10s %10s %10s\n' "$n" "one client $path" "$best" MB/s "${size_mb}MB"
    rows+=("{\"apps\":$n,\"measure\":\"throughput\",\"path\":\"$path\",\"mb_per_sec\":$best,\"mb\":$size_mb}")
  done
  for path in "/" "/environments/bench?status=warning" "/environments/bench?q=order" "/environments/bench?q=zzzz" "/metrics"; do
    curl -fsS -o /dev/null "http://127.0.0.1:$port$path"   # warm
    # The API and /metrics answer megabytes: give each request time to finish, and the run
    # time for a few rounds of 16, so their latency is measured rather than timed out.
    case "$path" in
      /metrics) d=$((secs * 3)); timeout=120s ;;
      *) d=$secs; timeout=2s ;;
    esac
    wrk -t2 -c16 -d"${d}s" --timeout "$timeout" --latency "http://127.0.0.1:$port$path" > "$work/wrk"
    p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$work/wrk")")
    p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$work/wrk")")
    rps=$(awk '/Requests\/sec/ { print $2 }' "$work/wrk")
    errors=$(awk '/Non-2xx|Socket errors/ { print }' "$work/wrk" | tr '\n' ' ')
    mb=$(awk '/Transfer\/sec/ { print $2 }' "$work/wrk")
    printf '%-8s %-22s %10s %10s %10s %s\n' "$n" "p50 $path" "$p50" ms "p99 ${p99}ms" "${rps} req/s, $mb/s $errors"
    rows+=("{\"apps\":$n,\"measure\":\"latency\",\"path\":\"$path\",\"p50_ms\":$p50,\"p99_ms\":$p99,\"requests_per_sec\":$rps,\"transfer_per_sec\":\"$mb\",\"errors\":\"$errors\"}")
  done
  rss=$(awk '/VmRSS/ { print $2 }' "/proc/$srv/status")
  hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$srv/status")
  printf '%-8s %-22s %10s %10s\n' "$n" serve_rss_after "$((rss / 1024))" MB "$n" serve_rss_peak "$((hwm / 1024))" MB
  rows+=("{\"apps\":$n,\"measure\":\"serve_rss_after_load\",\"mb\":$((rss / 1024))}")
  rows+=("{\"apps\":$n,\"measure\":\"serve_rss_peak\",\"mb\":$((hwm / 1024))}")
  kill $srv $emu; wait $srv $emu 2>/dev/null || true
done
(IFS=,; echo "[${rows[*]}]") > "$out"
echo "written: $out"
