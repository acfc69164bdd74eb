#!/usr/bin/env bash
# Takes a screenshot of the real game window under Xvfb (Mesa software rendering):
# three headless bot peers host a session, a fourth player joins in a window (as a bot),
# and frame N is saved as a PNG. Prints the window's rendered frames per second.
#
#   apt-get install xvfb mesa-vulkan-drivers      # once
#   bash game/screenshot.sh [OUT.png] [FRAMES]    # default: docs/arena.png, 400
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/arena.png}"
frames="${2:-400}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cache/target}"
cargo build -q -p game
game="$CARGO_TARGET_DIR/debug/game"
log="$(mktemp -d)"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$log"; }
trap cleanup EXIT
"$game" host --headless --bot --bind 127.0.0.1 --name Mira >"$log/host" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q invite "$log/host" 2>/dev/null && break; sleep 0.1; done
code="$(head -1 "$log/host" | sed 's/.*"invite":"\([^"]*\)".*/\1/')"
for name in Juno Kai; do
  "$game" join "$code" --headless --bot --bind 127.0.0.1 --name "$name" >"$log/$name" 2>&1 &
  pids+=($!)
done
sleep 2
xvfb-run -a -s "-screen 0 1280x720x24" \
  "$game" join "$code" --bot --bind 127.0.0.1 --name Ada --frames "$frames" --screenshot "$out" \
  | grep '"frames"' || true
test -s "$out" && echo "saved $out"
