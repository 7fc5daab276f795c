#!/usr/bin/env bash
# One prepared run for a few minutes on a GPU machine: the GPU's ~10 minutes go to
# the work that takes this project's CPUs days, and everything it makes comes back under $OUT.
#   device run: bash experiments/device_burst.sh sudoku ppbench    (timeout_s 600; carry .burst, below)
# runs the stages in order under one deadline: a stage that ends early leaves its time to the next. Either
# alone: `... sudoku` (no carry) or `... ppbench`. ppbench needs the splits `ptrm data ppbench` built here
# (47 MB raw, ignored by git), packed and carried (the tree and the tarball came to 63 of the 64 MiB a call
# carries on 2026-11-27): echo /.burst/ >>.git/info/exclude; mkdir -p .burst; tar -czf
# .burst/ppbench-splits.tar.gz results/data/ppbench/{train,test,identifiers.json}
# The machine gets this working tree as it is, resume states included: stop your local `ptrm train` of the
# same run first (Ctrl-C in its terminal, which saves its resume state), and after the call unpack what came back:
#   for f in FILES_AT/*.tar.gz; do tar -xzf "$f"; done    # then read FILES_AT/*.log, and commit
# Everything here is resumable, so a second call (if device time is left) goes on where the first stopped.
#
# always:  the test suite in the background (models on the CPU, as in CI, and tests/test_cuda.py on the GPU),
#          and at the end, if time is left, the search benchmark at 8192 and 512 rows per batch.
# sudoku:  the paper's fixed-D protocol on the long run's snapshots (about 14 h of a 2-core CPU): the choice among
#          the last five at fixed D, findings (a)-(e) on the shipped step 8,750, the gain along training.
# ppbench: the PPBench model (issue 16), trained until the time runs out (resumable: the next burst goes on),
#          then experiments/ppbench.py --adaptive on what it reached.
# Each step runs under a deadline (BUDGET seconds from the start, 540 by default), so the run ends inside the
# call and packs what it finished: one tarball per results folder, holding only the files this run wrote.
set -uo pipefail
STAGES=${*:-sudoku}
for stage in $STAGES; do
    case $stage in sudoku|ppbench) ;; *) echo "unknown stage $stage (sudoku | ppbench)" >&2; exit 2 ;; esac
done
END=$((SECONDS + ${BUDGET:-540}))
OUT=${OUT:-/tmp/burst-out}
mkdir -p "$OUT"
STAMP=$(mktemp) && sleep 1  # files newer than this are what the run made
# The GPU image has python3 and the libraries but not this package, nor a `python`: both from the tree.
BIN=$(mktemp -d)
printf '#!/bin/sh\nexec python3 -c "from cli.main import main; main(prog_name=\\"ptrm\\")" "$@"\n' >"$BIN/ptrm"
printf '#!/bin/sh\nexec python3 "$@"\n' >"$BIN/python"  # not a link: a venv's python finds its venv by its path
chmod +x "$BIN/ptrm" "$BIN/python"
export PATH=$BIN:$PATH PYTHONPATH=$PWD PYTHONUNBUFFERED=1

left() { echo $((END - SECONDS - ${1:-0})); }  # seconds to the deadline, less a reserve
upto() { local l; l=$(left 5); echo $(($1 < l ? $1 : l)); }  # at most $1 seconds, and never past the deadline
log() { echo "[$(date +%T) +${SECONDS}s] $*" | tee -a "$OUT/burst.log"; }
run() {  # run SECONDS_CAP CMD...: the command under a deadline, its output in burst.log
    local cap=$1; shift
    [ "$cap" -gt 5 ] || { log "skipped (no time left): $*"; return 1; }
    log "start (cap ${cap}s): $*"
    # SIGINT first: `ptrm train` saves its resume state on it, a search keeps its finished work items
    timeout -s INT -k 20 "$cap" "$@" >>"$OUT/burst.log" 2>&1
    local rc=$?
    log "rc=$rc: $*"
    return $rc
}
pack() {  # pack NAME FOLDER...: the files under FOLDERs written since the start, as OUT/NAME.tar.gz; a tarball
    # over the 16 MiB that comes back is packed again per subfolder (NAME-<subfolder>.tar.gz)
    local name=$1; shift
    local files
    files=$(find "$@" -type f -newer "$STAMP" ! -name resume-adam.pt ! -name '*.tmp' 2>/dev/null)
    [ -n "$files" ] || return 0
    tar -czf "$OUT/$name.tar.gz" $files
    if [ "$(stat -c %s "$OUT/$name.tar.gz")" -gt 16000000 ] && [ $# -eq 1 ]; then
        rm "$OUT/$name.tar.gz"
        for sub in "$1"/*; do pack "$name-$(basename "$sub")" "$sub"; done
        return 0
    fi
    log "packed $name: $(echo "$files" | wc -l) files, $(stat -c %s "$OUT/$name.tar.gz") bytes"
}

sudoku() {
    local LONG=results/checkpoints/long
    # each resumable: finished cells are skipped, a cell cut short resumes from its finished work items
    run "$(left 60)" python experiments/evidence.py select $LONG/step-0{05000,06250,07500,08750,10000}.pt
    run "$(left 60)" python experiments/evidence.py findings $LONG/step-008750.pt
    run "$(left 60)" python experiments/progress.py $LONG/step-0{02500,05000,07500,08750,10000}.pt
    pack evidence results/evidence results/figures results/checkpoints/sudoku.pt
    pack progress results/progress
}

ppbench() {
    [ -f .burst/ppbench-splits.tar.gz ] && tar -xzf .burst/ppbench-splits.tar.gz
    [ -d results/data/ppbench/train ] || { log "results/data/ppbench/train is missing: carry .burst"; return 1; }
    RESUME=$([ -f results/training/ppbench/resume.pt ] && echo --resume)
    # max_minutes counts across resumes: this burst adds what it can spare, then the run stops cleanly
    # (an unfinished cosine, said in its metrics) and writes model.pt for the table. The CPU run finished its
    # 10,000 steps, so the burst goes on with a longer cosine (PPBENCH_STEPS; a warm restart: the LR rises again)
    SPENT=$(python3 -c "import torch; print(torch.load('results/training/ppbench/resume.pt',
        weights_only=True)['elapsed'])" 2>/dev/null || echo 0)
    run "$(left 120)" ptrm train experiments/train_ppbench.yaml $RESUME max_steps="${PPBENCH_STEPS:-30000}" \
        max_minutes="$(python3 -c "print(round(($SPENT + $(left 170)) / 60, 2))")"
    pack train results/training/ppbench results/checkpoints/ppbench
    [ -f results/training/ppbench/model.pt ] &&
        run "$(left 10)" python3 experiments/ppbench.py results/training/ppbench/model.pt --adaptive
    pack table results/ppbench
}

log "stages $STAGES; $(nvidia-smi -L 2>&1 | head -1)"
python3 -m ptrm.hardware 2>&1 | tee -a "$OUT/burst.log"
# Tests that need what the GPU image lacks (ray, ortools, Node) skip or fail and say why; the rest runs.
[ -n "${NO_TESTS:-}" ] || timeout "$(left 30)" python3 -m pytest -q -n 4 -p no:cacheprovider \
    --continue-on-collection-errors >"$OUT/tests.log" 2>&1 &
TESTS=$!
for stage in $STAGES; do $stage; done
wait $TESTS; log "tests rc=$? (tests.log)"
for rows in 8192 512; do run "$(upto 45)" python3 benchmarks/bench_search.py --rows $rows --memory-puzzles 8; done
log "done"
