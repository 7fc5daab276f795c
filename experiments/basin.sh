#!/usr/bin/env bash
# Basin escape (paper Figure 5): PCA of the final answer state of K=100 rollouts of one puzzle the
# deterministic TRM fails, correct vs wrong rollouts.
#   bash experiments/basin.sh
set -euo pipefail
CKPT=${CKPT:-results/checkpoints/sudoku.pt}
ptrm plot basin --ckpt "$CKPT" --samples 100 --sigma 0.3 --limit 50 --out results/figures
