#!/usr/bin/env bash
# Five fixed-seed simulator runs (a host crash, a rejoin, a partition, the arena scene, 32
# peers): their `netsim --json` summaries, without the wall-clock fields, one per line.
# A refactor of the session must not change them: `.ci/run` compares them with
# docs/netsim-seeds.txt (regenerate that file only for an intended change of behaviour).
set -euo pipefail
cd "$(dirname "$0")/.."
run() {
  cargo run -q -p netcode --example netsim -- "$@" --json | tail -1 |
    sed -e 's/"wall_seconds":[0-9.e+-]*,//' -e 's/"sim_speed":[0-9.e+-]*,//'
}
echo "host_crash $(run --peers 8 --seed 11 --duration 20 --latency 30 --jitter 5 --loss 0.02 --crash-host-at 5)"
echo "rejoin $(run --peers 6 --seed 12 --duration 20 --latency 20 --crash 2@5 --rejoin 2@8)"
echo "partition $(run --peers 6 --seed 13 --duration 25 --latency 20 --partition 0,1,2/3,4,5@5-15)"
echo "arena $(run --peers 6 --seed 14 --duration 15 --latency 25 --loss 0.01 --scene arena --crash-host-at 6)"
echo "peers32 $(run --peers 32 --seed 15 --duration 20 --latency 20 --crash-host-at 8)"
