#!/bin/bash
# Idle CPU of a 3-node cluster (docs/node-design.md, "Time, durability, seeds").
# Usage: node-bin/benches/idle_cpu.sh BINARY SECONDS
# Starts 3 nodes of BINARY on 127.0.0.1:47101-47103 (ports must be free), waits 2 s, and prints
# the summed CPU ticks (utime+stime, 1/100 s) of the three processes over SECONDS; then kills
# exactly those processes and removes their data dir.
set -eu
BIN=$1; SECS=$2; D=$(mktemp -d)
P="--peer n1=127.0.0.1:47101 --peer n2=127.0.0.1:47102 --peer n3=127.0.0.1:47103"
pids=()
for i in 1 2 3; do
  $BIN --id n$i --listen 127.0.0.1:4710$i $P --data-dir $D/n$i >$D/n$i.log 2>&1 &
  pids+=($!)
done
sleep 2
cpu() { local s=0; for p in "${pids[@]}"; do read -r -a f < /proc/$p/stat; s=$((s + f[13] + f[14])); done; echo $s; }
a=$(cpu); sleep $SECS; b=$(cpu)
for p in "${pids[@]}"; do kill $p; done
wait 2>/dev/null
rm -rf $D
echo "$BIN: $((b - a)) CPU ticks (1/100 s) over $SECS s, 3 idle nodes"
