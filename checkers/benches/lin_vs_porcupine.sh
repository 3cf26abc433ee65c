#!/usr/bin/env bash
# The side-by-side benchmark of the linearizability checker against Porcupine
# (docs/performance-lin.md): both check the same Gauntlet JSONL files, in alternating rounds.
#
#   checkers/benches/lin_vs_porcupine.sh [--rounds N] [--dir DIR] [--porcupine DIR] [FILE...]
#
# Without FILEs it checks the hard set (`gauntlet-linbench generate DIR`: 100 files, seed
# 17), generated into DIR (default: a temp dir, removed at the end). --porcupine (or
# $PORCUPINE_DIR) is Porcupine's library sources, default ../shared/bench/porcupine beside
# the workspace (or `git clone https://github.com/anishathalye/porcupine`).
#
# Needs: Go (Debian: `apt-get install golang-go`; built offline against the sources, no
# module download), python3, /usr/bin/time. .ci/run does not run this.
#
# Each round runs both programs once over all files (the order of the two alternates round
# by round); each program prints per file its verdict, wall and CPU seconds of the check
# alone. Reported: per-file medians and the Porcupine/Gauntlet ratios, the median total, the
# three files that are hardest for Porcupine, the peak RSS of each program (max over rounds,
# /usr/bin/time -f %M) and the load average. Exits 1 if any verdict differs between the two
# programs or from the verdict by construction (expected.tsv), in any round.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=5
dir=""
porcupine=${PORCUPINE_DIR:-$root/../shared/bench/porcupine}
[ -d "$porcupine" ] || porcupine=$root/../../shared/bench/porcupine  # from a git worktree
files=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --porcupine) porcupine=$2; shift 2 ;;
    -*) echo "lin_vs_porcupine.sh: unknown flag $1" >&2; exit 254 ;;
    *) files+=("$1"); shift ;;
  esac
done
command -v go >/dev/null || { echo "lin_vs_porcupine.sh: needs Go (apt-get install golang-go)" >&2; exit 254; }
[ -f "$porcupine/checker.go" ] || { echo "lin_vs_porcupine.sh: no Porcupine sources in $porcupine (--porcupine DIR)" >&2; exit 254; }
porcupine=$(cd "$porcupine" && pwd)

work=$(mktemp -d /tmp/lin_vs_porcupine.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "building gauntlet-linbench (release) ..." >&2
(cd "$root" && cargo build --release -q -p checkers --bin gauntlet-linbench)
target=$(cd "$root" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
rust="$target/release/gauntlet-linbench"

echo "building the Porcupine program against $porcupine ..." >&2
mkdir "$work/go"
cp "$root/checkers/benches/porcupine/main.go" "$root/checkers/benches/porcupine/go.mod" "$work/go/"
(cd "$work/go" && go mod edit -replace=github.com/anishathalye/porcupine="$porcupine" \
  && GOFLAGS=-mod=mod GOPROXY=off GOCACHE="$work/gocache" go build -o "$work/pbench" .)

expected=""
if [ ${#files[@]} -eq 0 ]; then
  [ -n "$dir" ] || dir="$work/set"
  if [ ! -f "$dir/expected.tsv" ]; then
    "$rust" generate "$dir"
  fi
  expected="$dir/expected.tsv"
  for f in "$dir"/hard-*.jsonl; do files+=("$f"); done
fi

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores" >&2
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order="rust go"; else order="go rust"; fi
  for who in $order; do
    if [ "$who" = rust ]; then cmd=("$rust" check); else cmd=("$work/pbench"); fi
    /usr/bin/time -f %M -o "$work/$who.$r.mem" "${cmd[@]}" "${files[@]}" > "$work/$who.$r.tsv"
  done
  echo "round $r/$rounds done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$work" "$rounds" "$expected" <<'PY'
import statistics as st, sys, os
work, rounds, expected = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def load(who, r):
    rows = {}
    for line in open(f"{work}/{who}.{r}.tsv"):
        f, v, wall, cpu, _ = line.rstrip("\n").split("\t")
        rows[f] = (v, float(wall), float(cpu))
    return rows
runs = {w: [load(w, r) for r in range(1, rounds + 1)] for w in ("rust", "go")}
want = {}
if expected:
    for line in list(open(expected))[1:]:
        c = line.split("\t")
        want[c[0]] = "valid" if c[1] == "true" else "invalid"
bad = []
files = [f for f in runs["rust"][0] if f != "total"]
for r in range(rounds):
    for f in files:
        a, b = runs["rust"][r][f][0], runs["go"][r][f][0]
        e = want.get(os.path.basename(f))
        if a != b or (e and a != e):
            bad.append(f"round {r+1}: {f}: gauntlet {a}, porcupine {b}, by construction {e}")
med = lambda who, f, k: st.median(runs[who][r][f][k] for r in range(rounds))
print(f"{'file':<16} {'verdict':<8} {'gauntlet wall':>13} {'porcupine wall':>14} {'ratio':>7} {'gauntlet cpu':>12} {'porcupine cpu':>13} {'ratio':>7}")
ratio = lambda a, b: b / a if a > 0 else float("inf")
for f in files:
    gw, pw, gc, pc = med("rust", f, 1), med("go", f, 1), med("rust", f, 2), med("go", f, 2)
    print(f"{os.path.basename(f):<16} {runs['rust'][0][f][0]:<8} {gw:>13.4f} {pw:>14.4f} {ratio(gw, pw):>6.1f}x {gc:>12.4f} {pc:>13.4f} {ratio(gc, pc):>6.1f}x")
gw, pw, gc, pc = (med("rust", "total", 1), med("go", "total", 1), med("rust", "total", 2), med("go", "total", 2))
print(f"{'TOTAL (median)':<16} {'':<8} {gw:>13.4f} {pw:>14.4f} {ratio(gw, pw):>6.1f}x {gc:>12.4f} {pc:>13.4f} {ratio(gc, pc):>6.1f}x")
for k, name in ((1, "wall"), (2, "cpu")):
    per_round = [ratio(runs["rust"][r]["total"][k], runs["go"][r]["total"][k]) for r in range(rounds)]
    print(f"total {name} ratio per round: " + ", ".join(f"{x:.1f}x" for x in per_round))
hard = sorted(files, key=lambda f: -med("go", f, 2))[:3]
print("three hardest for Porcupine (by median CPU):")
for f in hard:
    print(f"  {os.path.basename(f)}: cpu {ratio(med('rust', f, 2), med('go', f, 2)):.1f}x, wall {ratio(med('rust', f, 1), med('go', f, 1)):.1f}x")
mem = {w: max(int(open(f"{work}/{w}.{r}.mem").read().split()[-1]) for r in range(1, rounds + 1)) for w in ("rust", "go")}
print(f"peak RSS (max over rounds): gauntlet {mem['rust']/1024:.1f} MiB, porcupine {mem['go']/1024:.1f} MiB, ratio {mem['rust']/mem['go']:.2f}")
verdicts = {}
for f in files:
    verdicts[runs['rust'][0][f][0]] = verdicts.get(runs['rust'][0][f][0], 0) + 1
print(f"{len(files)} files, {rounds} rounds; verdicts: {verdicts}")
if bad:
    print("VERDICTS DIFFER:")
    print("\n".join(bad))
    sys.exit(1)
print("all verdicts equal (and as constructed)" if want else "all verdicts equal")
PY
