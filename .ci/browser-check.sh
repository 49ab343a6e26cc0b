#!/usr/bin/env bash
# Browser check: serves credwatch with data synced from the Graph emulator (three environments,
# hostile names), loads the overview, an inventory and an application page in headless Chromium,
# and fails on any console message (errors, CSP violations), an asset that does not load, script
# that did not run, or missing content; then audits the same pages with axe-core and fails on
# any serious or critical accessibility violation; then signs in through `credwatch demo --sign-in`
# (the emulator playing Entra ID), sees the dashboard, acknowledges a credential, signs out
# (.ci/sign-in-check.mjs). Installs Chromium from Debian when it is missing, and axe-core and
# playwright-core (the versions in .ci/package-lock.json) into a cache.
#
# BROWSER_CHECK_SCREENSHOT=FILE.png keeps a screenshot of the overview there.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need chromium || ! need curl || ! need node || ! need npm; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium curl nodejs npm >/dev/null
fi

target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet --example browser_fixture --bin credwatch

work="$(mktemp -d)"
server=""
demo=""
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    if [ -n "$demo" ]; then kill "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# The server says READY on stdout once it serves: read that line (or its end of output) instead of
# polling for it.
mkfifo "$work/server.out"
"$target/debug/examples/browser_fixture" --listen 127.0.0.1:0 --apps 40 >"$work/server.out" 2>"$work/server.err" &
server=$!
exec 3<"$work/server.out"
base=""
link=""
while IFS= read -r -t 120 line <&3; do
    echo "$line" >>"$work/server.log"
    case "$line" in
        LINK\ *) link="${line#LINK }" ;;
        READY\ *) base="${line#READY }"; break ;;
    esac
done
if [ -z "$base" ]; then
    cat "$work/server.log" "$work/server.err" >&2
    echo "browser-check: the fixture server never became ready" >&2
    exit 1
fi
# Keep draining what it writes later, so that it never blocks on a full pipe.
cat <&3 >>"$work/server.log" &

pages=(
    /
    "/environments/prod?status=expired"
    /environments/prod/applications/00000000-0000-4000-8000-000000000001
    "$link"
)

failures=0
fail() { echo "browser-check: FAIL: $*" >&2; failures=$((failures + 1)); }

# check URL EXPECTED... : loads URL, then checks the DOM after scripts ran.
check() {
    local url="$1"; shift
    local name; name="$(echo "$url" | tr -c 'a-zA-Z0-9' '_')"
    local dom="$work/$name.html" log="$work/$name.log"
    timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --user-data-dir="$work/profile-$name" \
        --enable-logging=stderr --v=0 --virtual-time-budget=5000 --dump-dom "$base$url" >"$dom" 2>"$log" \
        || fail "$url: chromium exited with $?"
    if grep -q ':CONSOLE' "$log"; then
        fail "$url: console messages:"; grep ':CONSOLE' "$log" >&2
    fi
    [ -s "$dom" ] || fail "$url: empty document"
    for expected in "$@"; do
        grep -qF -- "$expected" "$dom" || fail "$url: missing \"$expected\""
    done
    grep -qF '<script>alert' "$dom" && fail "$url: a hostile name became markup"
    # app.js reveals the controls that need it; still hidden means it did not run.
    grep -Eq 'class="js-only[^"]*"[^>]* hidden' "$dom" && fail "$url: app.js did not run"
    # Every stylesheet, script and image the page names must load.
    for asset in $(grep -oE '(href|src)="/static/[^"]+"' "$dom" | sed -E 's/^(href|src)="//; s/"$//; s/&amp;/\&/g' | sort -u); do
        curl -fsS -o /dev/null "$base$asset" || fail "$url: $asset does not load"
    done
    echo "browser-check: ok $url"
}

check / "credwatch's own credentials" "Needs action" "Sync failing" "<svg" "series-0" \
    "&lt;script&gt;alert(1)&lt;/script&gt;" "credwatch-2025" "webcal://"
check "/environments/prod?status=expired" "Credentials" "&lt;script&gt;alert(1)&lt;/script&gt;" "Expired" "Download CSV" "Recent syncs"
check /environments/prod/applications/00000000-0000-4000-8000-000000000001 \
    "Certificates &amp; secrets" "History: removed credentials" "22222222-0000-4000-8000-000000000001" \
    "https://portal.azure.com/#view/Microsoft_AAD_RegisteredApps/ApplicationMenuBlade/~/Credentials/appId/11111111-0000-4000-8000-000000000001"

# A reminder's signed link: its confirmation page (GET changes nothing).
check "$link" "ops@example.com is on it" 'name="csrf"' "Nothing changes until you press the button."

# Accessibility: axe-core in the same headless Chromium, driven by playwright-core. Both come from
# the npm registry at the pinned versions, installed once into a cache outside the work tree.
modules="${CREDWATCH_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/credwatch-ci}/node"
lock_sum="$(cat .ci/package.json .ci/package-lock.json | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$modules/.installed" 2>/dev/null)" != "$lock_sum" ]; then
    rm -rf "$modules"
    mkdir -p "$modules"
    cp .ci/package.json .ci/package-lock.json "$modules/"
    (cd "$modules" && npm ci --no-audit --no-fund --loglevel=error) >&2
    echo "$lock_sum" > "$modules/.installed"
fi
screenshot="${BROWSER_CHECK_SCREENSHOT:-$work/overview.png}"
urls=()
for p in "${pages[@]}"; do urls+=("$base$p"); done
timeout 300 node .ci/axe-check.mjs "$modules" "$screenshot" "${urls[@]}" || fail "accessibility audit (axe-core)"
# Then the link followed to the end in the browser: confirm, act once, refuse reuse.
timeout 120 node .ci/act-check.mjs "$modules" "$base$link" || fail "following a reminder's link"

# Sign-in with the demo's emulated Entra ID, in its own directory (the demo writes its database there).
bin="$(cd "$target" && pwd)/debug/credwatch"
mkdir "$work/demo"
mkfifo "$work/demo.out"
(cd "$work/demo" && exec "$bin" demo --sign-in --listen 127.0.0.1:0) >"$work/demo.out" 2>"$work/demo.err" &
demo=$!
exec 4<"$work/demo.out"
demo_base=""
while IFS= read -r -t 120 line <&4; do
    echo "$line" >>"$work/demo.log"
    case "$line" in *dashboard\ *) demo_base="${line##* }"; demo_base="${demo_base%/}" ;; *outbox\ *) break ;; esac
done
cat <&4 >>"$work/demo.log" &
if [ -z "$demo_base" ]; then
    cat "$work/demo.log" "$work/demo.err" >&2
    fail "credwatch demo --sign-in never printed its dashboard"
else
    timeout 120 node .ci/sign-in-check.mjs "$modules" "$demo_base" || fail "sign-in in the browser"
fi

if [ "$failures" -gt 0 ]; then
    echo "browser-check: $failures failure(s); server log:" >&2
    cat "$work/server.log" "$work/server.err" >&2
    exit 1
fi
echo "browser-check: all pages fine"
