#!/usr/bin/env bash
# Sigma sweep (paper Figure 7 layout) and depth vs width: sigma x D grid, K=8 rollouts per cell,
# the first 24 held-out hard puzzles, bf16 activations. Re-running resumes an interrupted sweep.
#   bash experiments/sweep.sh
set -euo pipefail
CKPT=${CKPT:-results/checkpoints/sudoku.pt}
ptrm sweep --ckpt "$CKPT" --sigmas 0,0.1,0.3,1.0 --steps 16,32 --samples 8 --limit "${LIMIT:-24}" \
  --out results/sweep
ptrm plot results/sweep --out results/figures/sweep
