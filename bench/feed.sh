#!/usr/bin/env bash
# Calendar feed benchmark (not a test; issues 13 §4 and 17 §2). N applications (about 2.1
# credentials each) served by the built-in Graph emulator in its own process, synced once, then a
# release build of `credwatch serve` measured twice:
#
#   1. as configured by default (calendar.max_events = 2000, stall_timeout_secs = 30):
#      the default feed and some filtered ones (size, time, events, longest line), a conditional
#      request, and 16 clients downloading the default feed for SECS seconds (wrk), with the
#      server's peak RSS;
#   2. with max_events = 1000000, so the feed holds one event per credential (the form that was
#      270 MB): one download, 16 clients downloading it at once for SECS seconds, and 8 clients
#      that request it and never read, with the server's RSS while they stall and when each was
#      cut off.
#
# Prints a table and writes it as JSON (default bench/feed.json).
#
#   bench/feed.sh [N]                 # default: 100000
#   SECS=10 OUT=feed.json bench/feed.sh 100000
#   BIN=path/to/credwatch bench/feed.sh 1000   # a build of your own, no release build
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
secs=${SECS:-10}
out=${OUT:-bench/feed.json}
token=bench-feed-token-0123456789
command -v wrk >/dev/null && command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk curl >/dev/null; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/credwatch
fi
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export EMULATOR_CLIENT_SECRET=feed-secret FEED_SECRET=feed-secret CAL_TOKEN=$token
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rows=()
row() { # measure value unit [extra] [json fields]
  printf '%-8s %-40s %12s %-4s %s\n' "$n" "$1" "$2" "$3" "${4:-}"
  local detail
  detail=$(printf '%s' "${4:-}" | sed 's/\\/\\\\/g; s/"/\\"/g')
  rows+=("{\"apps\":$n,\"measure\":\"$1\",\"value\":$2,\"unit\":\"$3\",\"detail\":\"$detail\"${5:-}}")
}
mb() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1048576 }'; }

"$BIN" emulate --apps "$n" --tenant feed-tenant --client feed-client > "$work/url" &
pids+=($!)
for _ in $(seq 300); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(cat "$work/url")
port=$(free_port)
config() { # max_events
  cat > "$work/credwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
public_url = "https://credwatch.example.com"
[database]
url = "sqlite://$work/feed.db"
[schedule]
sync = ""
remind = ""
[calendar]
token_env = "CAL_TOKEN"
${1:+max_events = $1}
[[environments]]
name = "bench"
tenant_id = "feed-tenant"
client_id = "feed-client"
client_secret_env = "FEED_SECRET"
authority_host = "$url"
graph_url = "$url"
TOML
}
config ""
/usr/bin/time -f '%e' -o "$work/time" "$BIN" sync --config "$work/credwatch.toml" > "$work/out"
credentials=$(sqlite3 "$work/feed.db" "SELECT count(*) FROM credentials WHERE removed_at IS NULL")
row sync_first "$(cat "$work/time")" s "$credentials credentials"

srv=
serve() {
  RUST_LOG=warn "$BIN" serve --config "$work/credwatch.toml" 2>> "$work/serve.log" &
  srv=$!; pids+=($srv)
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
stop() { kill "$srv"; wait "$srv" 2>/dev/null || true; }
rss_mb() { awk -v f="$1:" '$1 == f { printf "%.0f", $2 / 1024 }' "/proc/$srv/status"; }

# One download of `path`: size, time, events and the longest physical line (octets, CRLF not
# counted; RFC 5545 allows 75).
fetch() { # label path
  local stats size time events longest name
  stats=$(curl -fsS -o "$work/feed.ics" -w '%{size_download} %{time_total}' "http://127.0.0.1:$port$2")
  read -r size time <<< "$stats"
  events=$(grep -c '^BEGIN:VEVENT' "$work/feed.ics" || true)
  longest=$(LC_ALL=C awk '{ sub(/\r$/, ""); if (length($0) > m) m = length($0) } END { print m + 0 }' "$work/feed.ics")
  # The calendar's name, unfolded and unescaped.
  name=$(head -c 4096 "$work/feed.ics" | tr -d '\r' | awk '/^ / { l = l substr($0, 2); next } { if (l ~ /^X-WR-CALNAME:/) print l; l = $0 }' \
    | cut -d: -f2- | sed 's/\\\(.\)/\1/g')
  row "$1 size" "$(mb "$size")" MB "$events events, ${time}s, longest line $longest octets: $name" \
    ",\"bytes\":$size,\"seconds\":$time,\"events\":$events,\"longest_line\":$longest,\"path\":\"${2%%token=*}…\""
}

# wrk: 16 clients on `path` for SECS seconds.
load() { # label path
  wrk -t2 -c16 -d"${secs}s" --timeout 60s --latency "http://127.0.0.1:$port$2" > "$work/wrk"
  local p50 rps transfer
  p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk")
  rps=$(awk '/Requests\/sec/ { print $2 }' "$work/wrk")
  transfer=$(awk '/Transfer\/sec/ { print $2 }' "$work/wrk")
  row "$1 req/s" "$rps" "/s" "p50 $p50, $transfer/s $(awk '/Non-2xx|Socket errors/' "$work/wrk" | tr '\n' ' ')"
}

echo "== 1. default settings (max_events 2000)"
serve
feed="/calendar.ics?token=$token"
fetch "default feed (cold)" "$feed"
fetch "default feed" "$feed"
etag=$(curl -fsS -D - -o /dev/null "http://127.0.0.1:$port$feed" | awk -F': ' 'tolower($1) == "etag" { print $2 }' | tr -d '\r')
read -r code time <<< "$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "If-None-Match: $etag" "http://127.0.0.1:$port$feed")"
row "default feed, If-None-Match" "$time" s "answer $code"
fetch "group=day" "/calendar.ics?group=day&token=$token"
fetch "status=critical" "/calendar.ics?status=critical&token=$token"
fetch "/calendar/bench.ics?within_days=3" "/calendar/bench.ics?within_days=3&token=$token"
fetch "owner=lee.gu@contoso.com" "/calendar.ics?owner=lee.gu%40contoso.com&token=$token"
load "16 clients, default feed" "$feed"
row "serve peak RSS, 16 default feeds" "$(rss_mb VmHWM)" MB "target < 200 MB"
stop

echo "== 2. one event per credential (max_events 1000000)"
config 1000000
serve
fetch "whole feed" "$feed"
load "16 clients, whole feed" "$feed"
row "serve peak RSS, 16 whole feeds" "$(rss_mb VmHWM)" MB "target < 200 MB"

# 8 clients that ask for the whole feed and never read (a 4 KB receive buffer): the server's
# RSS while they stall, and when each is reset (stall_timeout_secs is 30).
python3 - "$port" "$feed" 8 60 > "$work/stall" <<'PY' &
import socket, sys, time
port, path, n, limit = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    socks.append(s)
start, cut = time.monotonic(), {}
while time.monotonic() - start < limit and len(cut) < n:
    for i, s in enumerate(socks):
        if i not in cut and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            cut[i] = time.monotonic() - start
    time.sleep(0.1)
times = sorted(cut.values())
print(len(cut), f"{times[0]:.1f}" if times else "-", f"{times[-1]:.1f}" if times else "-")
PY
stall=$!
sleep 15
row "serve RSS, 8 stalled readers at 15 s" "$(rss_mb VmRSS)" MB
wait "$stall"
read -r cut first last < "$work/stall"
row "stalled readers reset" "$cut" "of 8" "after ${first}–${last} s (stall_timeout_secs 30)"
row "serve RSS after the resets" "$(rss_mb VmRSS)" MB
curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" && row "serving after the resets" 1 bool
stop
grep -c "a reader took nothing" "$work/serve.log" | xargs -I{} echo "log: {} stalled readers reported"

(IFS=,; echo "[${rows[*]}]") > "$out"
echo "written: $out"
