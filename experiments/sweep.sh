#!/usr/bin/env bash
# Sigma sweep (paper Figure 7 layout) and depth vs width: sigma x D grid, K=16 rollouts per cell,
# the first 40 held-out hard puzzles, bf16 activations. Re-running resumes an interrupted sweep.
#   bash experiments/sweep.sh
set -euo pipefail
CKPT=${CKPT:-results/checkpoints/sudoku.pt}
ptrm sweep --ckpt "$CKPT" --sigmas 0,0.1,0.3,0.6,1.0 --steps 16,32 --samples 16 --limit "${LIMIT:-40}" \
  --dtype bfloat16 --out results/sweep
ptrm plot results/sweep --out results/figures/sweep
