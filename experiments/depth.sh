#!/usr/bin/env bash
# Finding (d), width against depth at equal compute, on the shipped checkpoint: K=16 rollouts of D=64 steps
# (4 N_sup, the paper's fixed D) with per-step records, sigma 0.3, the first 256 test puzzles, then the same run
# read at D=16 and D=32 (the first steps of a deeper rollout are the shallower rollout): results/depth/depth.md
# and figures/depth_vs_width.png. Resumable: re-run it after an interruption. Extra options go to the sweep
# (e.g. --dtype float32; the sweep keeps the dtype it began with).
#   bash experiments/depth.sh
set -euo pipefail
CKPT=${CKPT:-results/checkpoints/sudoku.pt}
OUT=${OUT:-results/depth}
ptrm sweep --ckpt "$CKPT" --limit 256 --samples 16 --sigmas 0.3 --steps 64 --per-step --out "$OUT" "$@"
python experiments/evidence.py depth "$OUT/sigma=0.3_D=64" --out "$OUT"
