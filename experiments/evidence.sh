#!/usr/bin/env bash
# Every measurement of issue 10 on the long run's snapshots, in the order that serves it; each step resumes
# where it stopped (finished cells are skipped, a cell cut short keeps its finished work items), so re-run it
# after an interruption. About 14 h of this 2-core CPU at fixed D (see the README's long-run section).
#   bash experiments/evidence.sh
set -euo pipefail
LONG=results/checkpoints/long
# 1. the checkpoint to ship, chosen on sudoku-hard 1,000-1,255 (no reported table uses them)
python experiments/evidence.py select $LONG/step-0{05000,06250,07500,08750,10000}.pt
CHOSEN=$(cat results/evidence/chosen.txt)
# 2. its headline table (K=64, 500 puzzles, sigma 0.1 and 0.3) and the paper's findings (a)-(e)
python experiments/evidence.py findings "$CHOSEN"
# 3. PTRM gain vs training progress: the same cells for the other snapshots, then the table and the figure
python experiments/progress.py $(ls $LONG/step-0{02500,05000,07500,10000}.pt "$CHOSEN" | sort -u)
