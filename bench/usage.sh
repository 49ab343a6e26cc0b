#!/usr/bin/env bash
# What reading credential usage (issue 14) adds to a sync: `credwatch sync` against the built-in
# Graph emulator (its own process on loopback; its generator gives about 2.1 credentials per
# application and sign-in rows for about 60% of them), each run into a fresh database and then
# again with nothing changed, once with `usage = false` and once with usage read at every sync
# (`usage.refresh_hours = 0`). Wall time and peak memory (max RSS) of each run, and the
# difference usage makes.
#
#   bench/usage.sh [N ...]                       # default: 100000; builds a release binary
#   BIN=target/debug/credwatch bench/usage.sh 1000   # a build of your own, no release build
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-100000}")
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=${CARGO_TARGET_DIR:-target}/release/credwatch
fi
work=$(mktemp -d)
emu_pid=
trap '[ -n "$emu_pid" ] && kill "$emu_pid" 2>/dev/null; rm -rf "$work"' EXIT
export EMULATOR_CLIENT_SECRET=bench-secret BENCH_SECRET=bench-secret
printf '%-8s %-6s %-10s %8s %10s %8s %s\n' apps usage run wall_s maxrss_mb creds usage_rows
for n in "${sizes[@]}"; do
  "$BIN" emulate --apps "$n" --tenant bench-tenant --client bench-client > "$work/url" &
  emu_pid=$!
  for _ in $(seq 300); do [ -s "$work/url" ] && break; sleep 0.1; done
  url=$(cat "$work/url")
  declare -A wall=() rss=()
  for usage in off on; do
    rm -f "$work"/bench.db*
    if [ "$usage" = on ]; then on=true; else on=false; fi
    cat > "$work/credwatch.toml" <<TOML
[database]
url = "sqlite://$work/bench.db"
[usage]
refresh_hours = 0
[[environments]]
name = "bench"
tenant_id = "bench-tenant"
client_id = "bench-client"
client_secret_env = "BENCH_SECRET"
authority_host = "$url"
graph_url = "$url"
usage = $on
TOML
    for run in first unchanged; do
      /usr/bin/time -f '%e %M' -o "$work/time" "$BIN" sync --config "$work/credwatch.toml" > "$work/out"
      read -r w r < "$work/time"
      wall[$usage-$run]=$w
      rss[$usage-$run]=$r
      creds=$(sed -n 's/.* \([0-9]*\) credentials,.*/\1/p' "$work/out")
      rows=$(sed -n 's/.*usage read: \([0-9]*\) credentials.*/\1/p' "$work/out")
      printf '%-8s %-6s %-10s %8s %10.1f %8s %s\n' "$n" "$usage" "$run" "$w" "$(echo "$r / 1024" | bc -l)" "$creds" "${rows:--}"
    done
  done
  for run in first unchanged; do
    printf '%-8s %-6s %-10s %+8.2f %+10.1f   (usage on minus off)\n' "$n" added "$run" \
      "$(echo "${wall[on-$run]} - ${wall[off-$run]}" | bc -l)" \
      "$(echo "(${rss[on-$run]} - ${rss[off-$run]}) / 1024" | bc -l)"
  done
  kill "$emu_pid"; wait "$emu_pid" 2>/dev/null || true
  emu_pid=
done
