#!/usr/bin/env bash
# The issue-14 benchmark of `gauntlet shrink` on simulated runs (docs/shrink.md):
#   harness/benches/sim_shrink.sh [GAUNTLET] [MAX_SEED]
# For each of the six planted bugs (bughunt.rs PLANTED_BUGS: its workload and nemesis), finds
# the first seed from 1 whose default 30 s simulated run fails (`gauntlet run --sim --seed S
# --workload W --nemesis N --node-arg=--bug=B`, up to MAX_SEED, default 30), shrinks it
# (`gauntlet shrink RUN_DIR --plain`, timed) and prints one table row: faults before -> after,
# planned client ops before -> after (and the percentage left), shrink wall seconds, exit code
# (0 = proven 1-minimal). GAUNTLET defaults to target/release/gauntlet (build it first:
# `cargo build --release --locked -p harness --bin gauntlet`). Needs no root.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
g=${1:-${CARGO_TARGET_DIR:-$root/target}/release/gauntlet}
max_seed=${2:-30}
[ -x "$g" ] || { echo "no gauntlet binary at $g" >&2; exit 254; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# name workload nemesis extra-flags (as bughunt.rs PLANTED_BUGS gives them)
bugs=(
  "ack-before-quorum mixed kill"
  "lock-without-quorum mixed partition,kill,pause"
  "early-lease-expiry mixed partition,kill,pause"
  "failover-skips-cas mixed partition,kill,pause"
  "stale-read register partition"
  "lease-by-wall-clock locks clock --nemesis-interval=2s"
)

count() { # faults ops of a plan.json
  python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(len(p["faults"]), sum(len(w["ops"]) for w in p["workers"]))' "$1"
}

echo "| bug | workload | nemesis | seed | faults | client ops | ops left | shrink wall | search runs | exit |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for row in "${bugs[@]}"; do
  read -r bug workload nemesis extra <<<"$row"
  store="$out/$bug"
  found=""
  for seed in $(seq 1 "$max_seed"); do
    # shellcheck disable=SC2086
    "$g" run --sim --seed="$seed" --workload="$workload" --nemesis="$nemesis" $extra \
      --node-arg=--bug="$bug" --store="$store" >/dev/null 2>&1
    rc=$?
    if [ "$rc" = 1 ]; then found=$seed; break; fi
    rm -rf "$store"
  done
  if [ -z "$found" ]; then
    echo "| $bug | $workload | $nemesis | none of 1..$max_seed failed | | | | | | |"
    continue
  fi
  dir="$store/$(readlink "$store/latest")"
  t0=$(date +%s.%N)
  "$g" shrink "$dir" --plain >"$out/shrink.log" 2>&1
  code=$?
  t1=$(date +%s.%N)
  read -r f0 o0 < <(count "$dir/plan.json")
  if [ -f "$dir/shrunk/plan.json" ]; then
    read -r f1 o1 < <(count "$dir/shrunk/plan.json")
    runs=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["search_runs"])' "$dir/shrunk/shrink.json")
  else
    f1="?"; o1="?"; runs="?"
  fi
  pct=$(python3 -c "print(f'{100*$o1/$o0:.1f} %' if '$o1' != '?' else '?')")
  wall=$(python3 -c "print(f'{$t1-$t0:.1f} s')")
  echo "| $bug | $workload | $nemesis${extra:+ $extra} | $found | $f0 -> $f1 | $o0 -> $o1 | $pct | $wall | $runs | $code |"
  rm -rf "$store"
done
