// The Node side of ptrm.tasks.ppbench.pzpr: pzpr.js (the engine behind puzz.link, vendored beside this file)
// opens, plays and checks pencil puzzles. One process serves a whole batch of jobs, so Node's start-up is paid
// once. stdin: a JSON array of jobs; stdout: a JSON array of results, one per job, in order.
//
// A job opens a puzzle one of two ways, optionally plays moves on it, and reports its state and its check:
//   {"url": "https://puzz.link/p?akari/10/10/...", "moves": ["mouse,left,3,1", "mouse,left,1,1;key,5", ...]}
//   {"state": {"pid", "rows", "cols", "qnum", "qnums", "room", "qans", "anum"}}  (what a result's state holds)
// A result: {"state": {...}, "complete": bool, "code": the failing rule's code ("" when complete), "text": ...}
// or {"error": "..."} for a job pzpr.js could not open. State arrays are per cell in row-major order:
// qnum (clue number; -1 none, -2 '?'), qnums (tapa: the clue's list), room (room index, heyawake),
// qans (1 shaded/bulb; 2-5 a shakashaka triangle), anum (sudoku: the digit entered, -1 none).
"use strict";
const pzpr = require("./vendor/pzprjs/pzpr.js");

function play(puzzle, moves) {
  puzzle.setMode("play");
  for (const move of moves) {
    for (const part of move.split(";")) {  // sudoku moves are compound: select the cell, then type the digit
      const args = part.split(",");
      if (args[0] === "mouse") {
        puzzle.mouse.inputPath(args[1], ...args.slice(2).map(Number));
      } else if (args[0] === "key") {
        puzzle.key.inputKeys(...args.slice(1));
      } else {
        throw new Error("unsupported move " + JSON.stringify(part));
      }
    }
  }
}

function build(state) {
  // An empty board of the right size, then the clues, rooms and answers written straight into its cells.
  const puzzle = new pzpr.Puzzle();
  puzzle.open(state.pid + "/" + state.cols + "/" + state.rows);
  const board = puzzle.board;
  for (let i = 0; i < board.cell.length; i++) {
    const cell = board.cell[i];
    if (state.qnum) cell.qnum = state.qnum[i];
    if (state.qnums) cell.qnums = state.qnums[i].slice();
    if (state.qans) cell.qans = state.qans[i];
    if (state.anum) cell.anum = state.anum[i];
  }
  if (state.room) {
    for (let i = 0; i < board.border.length; i++) {
      const border = board.border[i];
      const [a, b] = border.sidecell;
      border.ques = !a.isnull && !b.isnull && state.room[a.id] !== state.room[b.id] ? 1 : 0;
    }
  }
  board.rebuildInfo();
  return puzzle;
}

function describe(puzzle) {
  const board = puzzle.board;
  const cells = Array.from({length: board.cell.length}, (_, i) => board.cell[i]);  // a CellList is no Array
  const state = {pid: puzzle.pid, rows: board.rows, cols: board.cols,
                 qnum: cells.map((c) => c.qnum), qans: cells.map((c) => c.qans), anum: cells.map((c) => c.anum)};
  if (puzzle.pid === "tapa") state.qnums = cells.map((c) => c.qnums.slice());
  if (board.roommgr && board.roommgr.enabled) {
    const rooms = board.roommgr.components;
    state.room = cells.map((c) => rooms.indexOf(c.room));
  }
  const check = puzzle.check(true);
  return {state: state, complete: check.complete, code: check.complete ? "" : String(check[0] || ""),
          text: check.complete ? "" : check.text};
}

function run(job) {
  try {
    let puzzle;
    if (job.url !== undefined) {
      puzzle = new pzpr.Puzzle();
      puzzle.open(job.url);
    } else {
      puzzle = build(job.state);
    }
    if (job.moves) play(puzzle, job.moves);
    return describe(puzzle);
  } catch (e) {
    return {error: String(e && e.message ? e.message : e)};
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(run)));
});
