#!/usr/bin/env bash
# Screenshots of the real game window under Xvfb (Mesa software rendering): three headless
# bot peers form a session (Mira hosts), a fourth player joins in a window (as a bot), and
# frame N is saved as a PNG. With `overlay`, F3 is pressed in the window (xdotool) and Mira
# is killed with SIGKILL before the shot: the F3 overlay after a real host migration.
# Prints the window's rendered frames per second.
#
#   apt-get install xvfb xdotool mesa-vulkan-drivers      # once
#   bash game/screenshot.sh [OUT.png] [FRAMES]            # default: docs/arena.png, 400
#   bash game/screenshot.sh docs/overlay.png 450 overlay  # the F3 overlay after a host kill
#   bash game/screenshot.sh docs/menu.png 200 menu        # the menu: Mira's game on the LAN,
#                                                         # a code being typed, Host online hovered
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-docs/arena.png}"
frames="${2:-400}"
mode="${3:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cache/target}"
cargo build -q --workspace --bin game
game="$CARGO_TARGET_DIR/debug/game"
log="$(mktemp -d)"
pids=()
cleanup() { kill -9 "${pids[@]}" 2>/dev/null || true; rm -rf "$log"; }
trap cleanup EXIT
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x720x24 >/dev/null 2>&1 &
pids+=($!)
if [ "$mode" = menu ]; then
  # Mira announces her game on a LAN port of this run; the menu (as Ada) lists it.
  export NETCODE_LAN_PORT="$((40000 + RANDOM % 20000))"
  "$game" host --headless --bot --bind 127.0.0.1 --name Mira --lan >"$log/Mira" 2>&1 &
  pids+=($!)
  sleep 1
  DISPLAY="$display" USER=Ada "$game" --frames "$frames" --screenshot "$out" >"$log/menu" 2>&1 &
  window=$!
  pids+=($window)
  for _ in $(seq 100); do
    DISPLAY="$display" xdotool search --name "netcode arena" >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 2
  id="$(DISPLAY="$display" xdotool search --name "netcode arena" | head -1)"
  DISPLAY="$display" xdotool windowfocus --sync "$id" key Tab type "nc1-7f3k"
  DISPLAY="$display" xdotool mousemove --window "$id" 540 354
  wait "$window" || true
  grep '"frames"' "$log/menu" || cat "$log/menu"
  test -s "$out" && echo "saved $out"
  exit 0
fi
"$game" host --headless --bot --bind 127.0.0.1 --name Mira >"$log/Mira" 2>&1 &
host=$!
pids+=($host)
for _ in $(seq 50); do grep -q invite "$log/Mira" 2>/dev/null && break; sleep 0.1; done
code="$(head -1 "$log/Mira" | sed 's/.*"invite":"\([^"]*\)".*/\1/')"
for name in Juno Kai; do
  "$game" join "$code" --headless --bot --bind 127.0.0.1 --name "$name" >"$log/$name" 2>&1 &
  pids+=($!)
done
sleep 2
DISPLAY="$display" "$game" join "$code" --bot --bind 127.0.0.1 --name Ada --frames "$frames" \
  --screenshot "$out" >"$log/Ada" 2>&1 &
window=$!
pids+=($window)
if [ "$mode" = overlay ]; then
  for _ in $(seq 100); do
    DISPLAY="$display" xdotool search --name "netcode arena" >/dev/null 2>&1 && break
    sleep 0.1
  done
  sleep 6
  DISPLAY="$display" xdotool search --name "netcode arena" windowfocus --sync key F3
  sleep 2
  kill -9 "$host"
  echo "killed the host (Mira)"
fi
wait "$window" || true
grep '"frames"' "$log/Ada" || cat "$log/Ada"
test -s "$out" && echo "saved $out"
