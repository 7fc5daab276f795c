#!/usr/bin/env bash
# The README's first command: the code before fast search (commit 4648b2b, at its faster dtype on this CPU,
# bf16), today's code with its defaults (fixed D), and today's code with the options given here (e.g. the
# README's recommended --halt-q 0 --settle 3), on the same machine, one after the other.
#   bash benchmarks/bench_first_command.sh [options for the third run]
set -euo pipefail
OLD_COMMIT=${OLD_COMMIT:-4648b2b}
OLD=$(mktemp -d)/ptrm-old
git worktree add -q --detach "$OLD" "$OLD_COMMIT"
trap 'git worktree remove --force "$OLD"' EXIT
OUT=$(mktemp -d)
ARGS=(--ckpt "$PWD/results/checkpoints/sudoku.pt" --samples 64 --sigma 0.3 --limit 20)
python -m ptrm.hardware
run() {  # label, then the command; prints wall seconds and the result table's best-Q line
  local label=$1; shift
  local t0=$(date +%s.%N)
  "$@" > "$OUT/$label.txt" 2>&1
  echo "$label: $(echo "$(date +%s.%N) - $t0" | bc) s wall"
  grep -iE "best-Q|deterministic|steps per rollout" "$OUT/$label.txt" | head -4
}
# from inside the old tree, so that its own ptrm and cli are the ones imported
run before bash -c 'cd "$0" && python -c "from cli.main import main; main()" search "${@}"' "$OLD" "${ARGS[@]}" \
  --dtype bfloat16 --out "$OUT/before"
run now-fixed ptrm search "${ARGS[@]}" --out "$OUT/now-fixed"
run now-adaptive ptrm search "${ARGS[@]}" "$@" --out "$OUT/now-adaptive"
