#!/usr/bin/env bash
# Password-flood benchmark (issue 13 §1; loopback only, bounded; not a test). A release credwatch
# serves 10,000 applications synced from `credwatch emulate`, with Basic auth. Then, together:
#   - CLIENTS attackers, each from its own loopback address (127.0.0.11 on), send ATTEMPTS wrong
#     passwords each, back to back, ignoring Retry-After;
#   - wrk reads the overview as a signed-in user (a correct Authorization header) from 127.0.0.1;
#   - half a second into the flood, a user who has not logged in before logs in from a fresh
#     address (127.0.0.250); the time to its 200 is measured.
# Prints serve's peak RSS (VmHWM), the overview's latency under the flood, the new login's time,
# how the attempts were answered and how long the flood lasted.
#
#   bench/auth-flood.sh [CLIENTS] [ATTEMPTS] [APPS]     # defaults: 64 20 10000
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-64}
attempts=${2:-20}
apps=${3:-10000}
secs=${SECS:-8}
command -v wrk >/dev/null && command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk curl >/dev/null; }
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/credwatch
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
export EMULATOR_CLIENT_SECRET=flood-secret FLOOD_SECRET=flood-secret
"$bin" emulate --apps "$apps" --tenant flood-tenant --client flood-client > "$work/url" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
url=$(cat "$work/url")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ops_hash=$(echo "ops-password" | "$bin" hash-password)
viewer_hash=$(echo "viewer-password" | "$bin" hash-password)
cat > "$work/credwatch.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[server.auth]
mode = "basic"
[[server.auth.users]]
name = "ops"
password_hash = "$ops_hash"
[[server.auth.users]]
name = "viewer"
password_hash = "$viewer_hash"
[database]
url = "sqlite://$work/flood.db"
[schedule]
sync = ""
remind = ""
[[environments]]
name = "flood"
tenant_id = "flood-tenant"
client_id = "flood-client"
client_secret_env = "FLOOD_SECRET"
authority_host = "$url"
graph_url = "$url"
TOML
"$bin" sync --config "$work/credwatch.toml" > /dev/null
RUST_LOG=error "$bin" serve --config "$work/credwatch.toml" 2> "$work/serve.log" &
serve=$!
pids+=($serve)
base="http://127.0.0.1:$port"
for _ in $(seq 300); do curl -sf "$base/healthz" >/dev/null && break; sleep 0.1; done
# The signed-in user: logged in once, so its later requests are the cached, cheap kind.
curl -sf -o /dev/null -u ops:ops-password "$base/"
rss_before=$(awk '/VmRSS/ { print $2 }' "/proc/$serve/status")
auth="Authorization: Basic $(printf 'ops:ops-password' | base64)"
wrk -t2 -c16 -d"${secs}s" --timeout 5s --latency -H "$auth" "$base/" > "$work/wrk" &
wrk_pid=$!
pids+=($wrk_pid)
sleep 0.5
python3 - "$port" "$clients" "$attempts" > "$work/flood" <<'PY'
import base64, collections, http.client, sys, threading, time
port, clients, attempts = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
codes = collections.Counter()
lock = threading.Lock()

def get(source, user, password):
    # A new connection per attempt, as a password-guessing client makes.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    conn.request("GET", "/", headers={"Authorization": f"Basic {token}"})
    status = conn.getresponse().status
    conn.close()
    return status

def attacker(n):
    for i in range(attempts):
        status = get(f"127.0.0.{11 + n}", "ops", f"wrong-{n}-{i}")
        with lock:
            codes[status] += 1

login = {}
def new_login():
    time.sleep(0.5)
    start = time.monotonic()
    status = get("127.0.0.250", "viewer", "viewer-password")
    login["status"], login["seconds"] = status, time.monotonic() - start

threads = [threading.Thread(target=attacker, args=(n,)) for n in range(clients)]
threads.append(threading.Thread(target=new_login))
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print(f"flood: {clients} clients x {attempts} wrong passwords in {time.monotonic() - start:.2f} s; answers: "
      + ", ".join(f"{k}: {v}" for k, v in sorted(codes.items())))
print(f"new correct login during the flood: {login['status']} in {login['seconds'] * 1000:.0f} ms")
PY
wait "$wrk_pid"
cat "$work/flood"
echo "overview as a signed-in user during the flood (wrk -t2 -c16 -d${secs}s):"
awk '/50%|90%|99%|Requests\/sec|Non-2xx|Socket errors/ { print "  " $0 }' "$work/wrk"
hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$serve/status")
rss=$(awk '/VmRSS/ { print $2 }' "/proc/$serve/status")
threads=$(awk '/Threads/ { print $2 }' "/proc/$serve/status")
echo "serve: RSS before the flood $((rss_before / 1024)) MB, peak (VmHWM) $((hwm / 1024)) MB, after $((rss / 1024)) MB, $threads threads"
