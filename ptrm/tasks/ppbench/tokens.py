"""PPBench boards as the model's tokens: one vocabulary for all six kinds, in a FRAME x FRAME frame (seq 100).

A board sits in the frame's top-left corner; frame cells outside it are PAD in the inputs and IGNORE_LABEL in
the labels, so accuracy counts board cells only (9x9 sudoku fills 81 of the 100). The kind is the puzzle
identifier (its index in KINDS: one puzzle embedding per kind, as the official code has per puzzle).

Vocabulary: PAD 0, then per kind (in KINDS order) its output tokens, then its input tokens.
- Output tokens: one per solution code (sudoku 1-9; lightup, nurikabe, heyawake, tapa 0/1; shakashaka 0-4).
  Labels hold the solution on every board cell, clue cells included (their value is fixed: 0, or the digit).
- Input tokens: a cell's clue and, where its solution is not fixed by the clue, its `given` state (UNDECIDED or
  a solution code: the paper's trajectory samples show partly solved boards). Heyawake's rooms are shown cell
  by cell: its input token combines the room's clue (on the room's top-left cell; none elsewhere), a wall to
  the right, a wall below (board edges count as walls) and the given state.
Clue ranges the vocabulary holds: nurikabe numbers 1..NURIKABE_MAX, heyawake room clues 0..HEYAWAKE_MAX.
`encode`/`decode` are exact inverses for boards in range (decode renumbers rooms canonically and shows no
given on cells a clue fixes). `clue_grids` and `solution_codes` read a whole batch of token rows at once, which
is what `verify` (the checkers over a search's answers) runs on.
"""
import numpy as np

from ptrm.errors import PtrmError
from ptrm.puzzles import IGNORE_LABEL
from ptrm.tasks.ppbench import rules
from ptrm.tasks.ppbench.board import BLACK, FRAME, KINDS, TAPA_CLUES, UNDECIDED, UNKNOWN, WHITE, Board

SEQ_LEN = FRAME * FRAME
PAD = 0
NURIKABE_MAX = 50
HEYAWAKE_MAX = 19
KIND_ID = {kind: i for i, kind in enumerate(KINDS)}
# Solution codes per kind, lowest first.
CODES = {"sudoku": range(1, 10), "lightup": range(2), "nurikabe": range(2), "heyawake": range(2),
         "tapa": range(2), "shakashaka": range(5)}


def _given_index(kind, given):
    """UNDECIDED -> 0, solution code c -> 1 + its rank among the kind's codes."""
    return np.where(given == UNDECIDED, 0, given - CODES[kind][0] + 1)


def _input_index(kind, clues, given, wall_right, wall_below):
    """Each cell's input token within its kind's block (vectorised; the one definition of the input tokens)."""
    g = _given_index(kind, given)
    if kind == "sudoku":           # clue d -> d-1; blank -> 9 + given
        return np.where(clues > 0, clues - 1, 9 + g)
    if kind in ("lightup", "shakashaka"):  # number 0-4, BLACK 5; white -> 6 + given
        return np.where(clues == WHITE, 6 + g, clues)
    if kind == "nurikabe":         # number n -> n-1, '?' -> NURIKABE_MAX; blank -> NURIKABE_MAX + 1 + given
        return np.where(clues == 0, NURIKABE_MAX + 1 + g, np.where(clues == UNKNOWN, NURIKABE_MAX, clues - 1))
    if kind == "tapa":             # clue index; blank -> len(TAPA_CLUES) + given
        return np.where(clues >= 0, clues, len(TAPA_CLUES) + g)
    # heyawake: (room clue + 1, wall right, wall below, given)
    return (((clues + 1) * 2 + wall_right) * 2 + wall_below) * 3 + g


def _enumerate_inputs(kind):
    """Every (clue, given, wall_right, wall_below) a kind's input token can stand for, in token order."""
    clues = {"sudoku": range(10), "lightup": [WHITE, 0, 1, 2, 3, 4, BLACK], "shakashaka": [WHITE, 0, 1, 2, 3, 4, BLACK],
             "nurikabe": [0, UNKNOWN, *range(1, NURIKABE_MAX + 1)], "tapa": range(-1, len(TAPA_CLUES)),
             "heyawake": range(-1, HEYAWAKE_MAX + 1)}[kind]
    walls = (0, 1) if kind == "heyawake" else (0,)
    specs = {}
    for clue in clues:
        fixed = kind != "heyawake" and clue != {"sudoku": 0, "nurikabe": 0, "tapa": -1}.get(kind, WHITE)
        for given in ([UNDECIDED] if fixed else [UNDECIDED, *CODES[kind]]):
            for wr in walls:
                for wd in walls:
                    index = int(_input_index(kind, np.array(clue), np.array(given), wr, wd))
                    specs[index] = (clue, given, wr, wd)
    if sorted(specs) != list(range(len(specs))):
        raise AssertionError(f"{kind}: input tokens are not 0..{len(specs) - 1}")
    return [specs[i] for i in range(len(specs))]


# The vocabulary: bases per kind and lookup tables from token to what it stands for.
_INPUTS = {kind: _enumerate_inputs(kind) for kind in KINDS}
OUT_BASE, IN_BASE = {}, {}
_next = 1
for _kind in KINDS:
    OUT_BASE[_kind] = _next
    IN_BASE[_kind] = _next + len(CODES[_kind])
    _next = IN_BASE[_kind] + len(_INPUTS[_kind])
VOCAB_SIZE = _next
TOKEN_KIND = np.full(VOCAB_SIZE, -1, np.int64)   # the kind of a token (-1 for PAD)
OUT_CODE = np.full(VOCAB_SIZE, -99, np.int64)    # solution code of an output token (-99: not one)
IN_CLUE = np.zeros(VOCAB_SIZE, np.int64)
IN_GIVEN = np.full(VOCAB_SIZE, UNDECIDED, np.int64)
IN_WALL_RIGHT = np.zeros(VOCAB_SIZE, bool)
IN_WALL_BELOW = np.zeros(VOCAB_SIZE, bool)
IS_INPUT = np.zeros(VOCAB_SIZE, bool)
for _kind in KINDS:
    k = KIND_ID[_kind]
    out = OUT_BASE[_kind] + np.arange(len(CODES[_kind]))
    TOKEN_KIND[out], OUT_CODE[out] = k, list(CODES[_kind])
    for _i, (_clue, _given, _wr, _wd) in enumerate(_INPUTS[_kind]):
        t = IN_BASE[_kind] + _i
        TOKEN_KIND[t], IS_INPUT[t] = k, True
        IN_CLUE[t], IN_GIVEN[t], IN_WALL_RIGHT[t], IN_WALL_BELOW[t] = _clue, _given, _wr, _wd


def _walls(rooms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A wall right of / below each cell: a room border or the board's edge."""
    right = np.ones(rooms.shape, np.int64)
    below = np.ones(rooms.shape, np.int64)
    right[:, :-1] = rooms[:, 1:] != rooms[:, :-1]
    below[:-1] = rooms[1:] != rooms[:-1]
    return right, below


def _check_range(board: Board):
    H, W = board.shape
    if H > FRAME or W > FRAME:
        raise PtrmError(f"a {H}x{W} {board.kind} board does not fit the {FRAME}x{FRAME} frame")
    if board.kind == "nurikabe" and board.clues.max(initial=0) > NURIKABE_MAX:
        raise PtrmError(f"nurikabe clue {board.clues.max()} is above the vocabulary's {NURIKABE_MAX}")
    if board.kind == "heyawake" and board.clues.max(initial=0) > HEYAWAKE_MAX:
        raise PtrmError(f"heyawake clue {board.clues.max()} is above the vocabulary's {HEYAWAKE_MAX}")


def encode(board: Board) -> tuple[np.ndarray, np.ndarray]:
    """One board -> (inputs (SEQ_LEN,), labels (SEQ_LEN,)) int32; labels IGNORE_LABEL where the solution is
    unknown or outside the board."""
    if board.kind not in KIND_ID:
        raise PtrmError(f"unknown PPBench kind {board.kind!r}")
    _check_range(board)
    H, W = board.shape
    clues = board.clues.astype(np.int64)
    given = np.full((H, W), UNDECIDED) if board.given is None else board.given.astype(np.int64)
    if board.kind == "heyawake":
        wall_right, wall_below = _walls(board.rooms)
    else:
        wall_right = wall_below = np.zeros((H, W), np.int64)
    inputs = np.full((FRAME, FRAME), PAD, np.int32)
    labels = np.full((FRAME, FRAME), IGNORE_LABEL, np.int32)
    inputs[:H, :W] = IN_BASE[board.kind] + _input_index(board.kind, clues, given, wall_right, wall_below)
    if board.solution is not None:
        labels[:H, :W] = OUT_BASE[board.kind] + board.solution.astype(np.int64) - CODES[board.kind][0]
    return inputs.ravel(), labels.ravel()


def encode_boards(boards) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boards -> (inputs (N, SEQ_LEN), labels (N, SEQ_LEN), puzzle identifiers = kind ids (N,)) int32."""
    pairs = [encode(b) for b in boards]
    ids = np.array([KIND_ID[b.kind] for b in boards], np.int32)
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs]), ids


def board_shape(inputs: np.ndarray) -> tuple[int, int]:
    """(H, W) of the board in one token row: the extent of its non-PAD cells."""
    cells = inputs.reshape(FRAME, FRAME) != PAD
    return int(cells.any(1).sum()), int(cells.any(0).sum())


def clue_grids(inputs: np.ndarray, H: int, W: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Input token rows (B, SEQ_LEN) of boards of one kind and shape -> (clues (B, H, W), rooms or None)."""
    grid = np.asarray(inputs).reshape(-1, FRAME, FRAME)[:, :H, :W]
    clues = IN_CLUE[grid]
    if TOKEN_KIND[grid[0, 0, 0]] != KIND_ID["heyawake"]:
        return clues, None
    rooms = rules.label(np.ones(grid.shape, bool), ~IN_WALL_RIGHT[grid][:, :, :-1], ~IN_WALL_BELOW[grid][:, :-1])
    rooms -= rooms.reshape(len(grid), -1).min(1)[:, None, None]  # ids from 0 per board, row-major first cells
    return clues, rooms


def solution_codes(tokens: np.ndarray, kind: str, H: int, W: int) -> np.ndarray:
    """Output token rows (B, SEQ_LEN) -> solution codes (B, H, W); a token that is not one of the kind's
    outputs becomes -99, which every checker rejects."""
    grid = np.asarray(tokens).reshape(-1, FRAME, FRAME)[:, :H, :W]
    grid = np.clip(grid, 0, VOCAB_SIZE - 1)
    return np.where(TOKEN_KIND[grid] == KIND_ID[kind], OUT_CODE[grid], -99)


def decode(inputs: np.ndarray, labels: np.ndarray | None = None) -> Board:
    """One token row (and optionally its labels or a model's answer) -> the Board."""
    inputs = np.asarray(inputs).reshape(SEQ_LEN)
    if not IS_INPUT[np.clip(inputs[0], 0, VOCAB_SIZE - 1)]:
        raise PtrmError(f"not a PPBench input row (first token {inputs[0]})")
    kind = KINDS[TOKEN_KIND[inputs[0]]]
    H, W = board_shape(inputs)
    clues, rooms = clue_grids(inputs[None], H, W)
    given = IN_GIVEN[inputs.reshape(FRAME, FRAME)[:H, :W]]
    solution = None if labels is None else solution_codes(np.asarray(labels)[None], kind, H, W)[0].astype(np.int8)
    return Board(kind, clues[0].astype(np.int16), solution, None if rooms is None else rooms[0].astype(np.int16),
                 None if (given == UNDECIDED).all() else given.astype(np.int8))


def verify(inputs: np.ndarray, answers: np.ndarray) -> np.ndarray:
    """(N,) bool: does each answer row (model outputs, tokens) solve its input row's puzzle under its kind's
    rules? Rows may mix kinds and sizes; each (kind, size) group is checked in one batch."""
    inputs, answers = np.asarray(inputs), np.asarray(answers)
    ok = np.zeros(len(inputs), bool)
    if not len(inputs):
        return ok
    frame = inputs.reshape(-1, FRAME, FRAME) != PAD
    H, W = frame.any(2).sum(1), frame.any(1).sum(1)
    kind = TOKEN_KIND[np.clip(inputs[:, 0], 0, VOCAB_SIZE - 1)]
    for k, h, w in set(zip(kind.tolist(), H.tolist(), W.tolist())):
        rows = np.flatnonzero((kind == k) & (H == h) & (W == w))
        if k < 0:
            continue
        clues, rooms = clue_grids(inputs[rows], h, w)
        ok[rows] = rules.check(KINDS[k], clues, solution_codes(answers[rows], KINDS[k], h, w), rooms)
    return ok
