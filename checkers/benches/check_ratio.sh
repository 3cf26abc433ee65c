#!/usr/bin/env bash
# The issue-2 benchmark of `gauntlet check` (docs/performance-check.md):
#   checkers/benches/check_ratio.sh [ROUNDS] [PY_ROUNDS] [OTHER_GAUNTLET]
# Builds the release binaries, makes the 1,000,000-op history if /tmp/bench.jsonl is not
# there, then runs ROUNDS interleaved rounds of `gauntlet check` and `gauntlet check
# --parse-only` (and, in the first PY_ROUNDS rounds, the plain Python json.loads loop), and
# prints per-command medians, the median of the per-round ratios, and peak RSS.
# Each round runs its commands back to back, so a ratio compares runs made under the same
# load; on a shared VM the median of those ratios is the steadier figure.
# OTHER_GAUNTLET, another build of the `gauntlet` binary (an older commit, say), is measured
# in the same rounds, so the two are compared under the same load.
set -euo pipefail
rounds=${1:-31}
py_rounds=${2:-7}
other=${3:-}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
cargo build --release --locked -q -p harness --bin gauntlet -p checkers --bin gauntlet-genhistory
bin=${CARGO_TARGET_DIR:-$root/target}/release
history=/tmp/bench.jsonl
[ -f "$history" ] || "$bin/gauntlet-genhistory" "$history"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/pyloop.py" <<'EOF'
import json, sys
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line)
        n += 1
print(n)
EOF
measure() { # NAME COMMAND...: appends "wall user+sys rss_kb" to $out/NAME
    local name=$1
    shift
    /usr/bin/time -o "$out/t" -f "%e %U %S %M" "$@" >/dev/null
    awk '{printf "%s %.2f %s\n", $1, $2 + $3, $4}' "$out/t" >>"$out/$name"
}
for i in $(seq 1 "$rounds"); do
    measure check "$bin/gauntlet" check "$history"
    measure parse "$bin/gauntlet" check --parse-only "$history"
    if [ -n "$other" ]; then
        measure other-check "$other" check "$history"
        measure other-parse "$other" check --parse-only "$history"
    fi
    if [ "$i" -le "$py_rounds" ]; then
        measure python python3 "$out/pyloop.py" "$history"
    fi
done
python3 - "$out" "$rounds" "$py_rounds" <<'EOF'
import statistics as st, sys
out, rounds, py_rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rows(name):
    try:
        return [tuple(map(float, l.split())) for l in open(f"{out}/{name}")]
    except FileNotFoundError:
        return []
check, parse, py = rows("check"), rows("parse"), rows("python")
other, other_parse = rows("other-check"), rows("other-parse")
for name, r in (("check", check), ("parse-only", parse), ("python", py)):
    if r:
        print(f"{name:10} wall median {st.median(x[0] for x in r):.3f} s  cpu median "
              f"{st.median(x[1] for x in r):.3f} s  peak rss {max(x[2] for x in r) / 1024:.0f} MB  (n={len(r)})")
ratios = [c[0] / p[0] for c, p in zip(check, parse)]
print(f"check / parse-only: median of per-round ratios {st.median(ratios):.2f}, "
      f"ratio of medians {st.median(c[0] for c in check) / st.median(p[0] for p in parse):.2f} "
      f"(target <= 1.3)")
if other:
    ratios = [c[0] / p[0] for c, p in zip(other, other_parse)]
    print(f"other binary: check wall median {st.median(c[0] for c in other):.3f} s, "
          f"check / parse-only: median of per-round ratios {st.median(ratios):.2f}, ratio of medians "
          f"{st.median(c[0] for c in other) / st.median(p[0] for p in other_parse):.2f}")
if py:
    pr = [p[0] / c[0] for c, p in zip(check, py)]
    print(f"python / check: median of per-round ratios {st.median(pr):.1f}, "
          f"ratio of medians {st.median(p[0] for p in py) / st.median(c[0] for c in check[:len(py)]):.1f} "
          f"(target >= 10)")
EOF
