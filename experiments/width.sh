#!/usr/bin/env bash
# Table "PTRM on the shipped checkpoint" and the width-scaling / Q-tracking figures:
# K=64 rollouts, D=16, sigma in {0.1, 0.3}, the first 50 held-out hard puzzles, bf16 activations.
#   bash experiments/width.sh
set -euo pipefail
CKPT=${CKPT:-results/checkpoints/sudoku.pt}
LIMIT=${LIMIT:-50}
for SIGMA in 0.1 0.3; do
  ptrm search --ckpt "$CKPT" --samples 64 --sigma "$SIGMA" --limit "$LIMIT" --per-step \
    --out "results/width/sigma=$SIGMA"
  ptrm plot "results/width/sigma=$SIGMA" --out "results/figures/width_sigma=$SIGMA"
done
