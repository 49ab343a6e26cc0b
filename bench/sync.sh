#!/usr/bin/env bash
# Times `credwatch sync` (release build) against the built-in Graph emulator running as its own
# process on loopback: wall time and peak memory (max RSS) of a first sync into an empty
# database and of a second sync with nothing changed.
#
#   bench/sync.sh [N ...]        # default: 10000
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-10000}")
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/credwatch
work=$(mktemp -d)
trap 'kill $emu_pid 2>/dev/null || true; rm -rf "$work"' EXIT
export EMULATOR_CLIENT_SECRET=bench-secret BENCH_SECRET=bench-secret
printf '%-8s %-10s %8s %10s %10s %10s\n' apps run wall_s maxrss_mb creds db_mb
for n in "${sizes[@]}"; do
  "$bin" emulate --apps "$n" --tenant bench-tenant --client bench-client > "$work/url" &
  emu_pid=$!
  for _ in $(seq 100); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(cat "$work/url")
  rm -f "$work"/bench.db*
  cat > "$work/credwatch.toml" <<TOML
${BENCH_CONFIG:-}
[database]
url = "sqlite://$work/bench.db"
[[environments]]
name = "bench"
tenant_id = "bench-tenant"
client_id = "bench-client"
client_secret_env = "BENCH_SECRET"
authority_host = "$url"
graph_url = "$url"
TOML
  for run in first unchanged; do
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" sync --config "$work/credwatch.toml" > "$work/out"
    read -r wall rss < "$work/time"
    creds=$(sed -n 's/.* \([0-9]*\) credentials.*/\1/p' "$work/out")
    db=$(du -cm "$work"/bench.db* | tail -1 | cut -f1)
    printf '%-8s %-10s %8s %10.1f %10s %10s\n' "$n" "$run" "$wall" "$(echo "$rss / 1024" | bc -l)" "$creds" "$db"
  done
  kill $emu_pid; wait $emu_pid 2>/dev/null || true
done
