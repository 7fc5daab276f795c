"""Maze (Maze-Hard, 30x30): tokens, text, a path checker, a shortest-path solver and a small generator.

A maze is 900 characters, row-major over 30x30, from the charset `# SGo`: wall, open cell, start, goal,
and (answers only) a cell of the route. Models see the official TRM tokens: PAD 0, then '#' 1, ' ' 2,
'S' 3, 'G' 4, 'o' 5 (vocab 6, seq_len 900). The label is the question with one shortest S->G route marked
'o'; accuracy counts exact matches with it, and `valid_paths` says whether an answer is *a* route at all
(connected, through open cells only, from S to G), which a model may find without it being the label's.
"""
from collections import deque

import numpy as np
from scipy import ndimage

from ptrm.errors import PtrmError

CHARSET = "# SGo"
SIDE = 30
SEQ_LEN = SIDE * SIDE
VOCAB_SIZE = len(CHARSET) + 1
PAD, WALL, OPEN, START, GOAL, PATH = range(VOCAB_SIZE)

BYTE_TO_TOKEN = np.zeros(256, np.int32)  # byte -> token; 0 (PAD) marks a character outside the charset
BYTE_TO_TOKEN[np.frombuffer(CHARSET.encode(), np.uint8)] = np.arange(1, VOCAB_SIZE)


# ----------------------------------------------------------------------------- tokens and text

def encode(mazes) -> np.ndarray:
    """A 900-character maze string, or a list of them -> tokens (900,) or (N, 900) int32."""
    single = isinstance(mazes, str)
    strings = [mazes] if single else list(mazes)
    for i, s in enumerate(strings):
        if len(s) != SEQ_LEN:
            raise PtrmError(f"maze {i} has {len(s)} cells, expected {SEQ_LEN}")
    tokens = BYTE_TO_TOKEN[np.frombuffer("".join(strings).encode("latin-1", "replace"), np.uint8)].reshape(-1, SEQ_LEN)
    bad = tokens == PAD
    if bad.any():
        i, cell = np.argwhere(bad)[0]
        raise PtrmError(f"maze {i} has character {strings[i][cell]!r} at cell {cell}; allowed: {CHARSET!r}")
    return tokens[0] if single else tokens


def decode(tokens: np.ndarray):
    """Tokens (900,) -> a maze string, (N, 900) -> a list of them; PAD shows as '?'."""
    chars = np.frombuffer(("?" + CHARSET).encode(), np.uint8)[np.asarray(tokens)]
    if chars.ndim == 1:
        return chars.tobytes().decode()
    return [row.tobytes().decode() for row in chars]


def pretty(tokens: np.ndarray) -> str:
    """One maze as 30 lines, each cell drawn twice as wide so the grid looks square."""
    s = decode(np.asarray(tokens).reshape(SEQ_LEN))
    return "\n".join("".join(c * 2 for c in s[r * SIDE:(r + 1) * SIDE]) for r in range(SIDE))


# ----------------------------------------------------------------------------- checking

def changed_cells(answers: np.ndarray, questions: np.ndarray) -> np.ndarray:
    """(N, 900) tokens -> (N, 900) bool: cells where the answer does more than mark an open cell 'o'."""
    answers, questions = np.asarray(answers).reshape(-1, SEQ_LEN), np.asarray(questions).reshape(-1, SEQ_LEN)
    return np.where(questions == OPEN, (answers != OPEN) & (answers != PATH), answers != questions)


def keeps_question(answers: np.ndarray, questions: np.ndarray) -> np.ndarray:
    """(N, 900) tokens -> (N,) bool: the answer changes the question only by marking open cells 'o'."""
    return ~changed_cells(answers, questions).any(1)


# 4-neighbour adjacency inside each maze, never across the batch axis.
_NEIGHBOURS = np.zeros((3, 3, 3), bool)
_NEIGHBOURS[1] = [[0, 1, 0], [1, 1, 1], [0, 1, 0]]


def valid_paths(answers: np.ndarray, questions: np.ndarray) -> np.ndarray:
    """(N, 900) answers and questions (tokens) -> (N,) bool: the answer is a route from S to G.

    Route cells are S, G and every 'o'. The answer must keep the question (see `keeps_question`), S and
    G must each touch exactly one route cell and every 'o' exactly two, and the route must be one
    connected piece: together that is a simple path from S to G, with no branch or detached loop.
    """
    a = np.asarray(answers).reshape(-1, SIDE, SIDE)
    q = np.asarray(questions).reshape(-1, SIDE, SIDE)
    ends = (a == START) | (a == GOAL)
    route = ends | (a == PATH)
    padded = np.pad(route, ((0, 0), (1, 1), (1, 1))).astype(np.int8)
    degree = padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
    degree_ok = np.where(ends, degree == 1, np.where(route, degree == 2, True)).all((1, 2))
    one_start = (a == START).sum((1, 2)) == 1
    labels, _ = ndimage.label(route, structure=_NEIGHBOURS)
    start_label = np.where(a == START, labels, 0).max((1, 2))  # 0 when there is no S
    connected = ((labels == start_label[:, None, None]) | ~route).all((1, 2))
    return keeps_question(a, q) & one_start & degree_ok & connected


# ----------------------------------------------------------------------------- solving and generating

def solve(question: np.ndarray) -> np.ndarray | None:
    """The question (900,) with a shortest S->G route marked 'o', or None if G is unreachable.

    Breadth-first search, neighbours tried up, down, left, right, so ties between equally short routes
    always resolve the same way (the generator's perfect mazes have only one route anyway).
    """
    grid = np.asarray(question).reshape(SEQ_LEN)
    starts, goals = np.flatnonzero(grid == START), np.flatnonzero(grid == GOAL)
    if len(starts) != 1 or len(goals) != 1:
        raise PtrmError(f"a maze needs one S and one G, got {len(starts)} and {len(goals)}")
    start, goal = int(starts[0]), int(goals[0])
    parent = np.full(SEQ_LEN, -1)
    parent[start] = start
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if cell == goal:
            break
        r, c = divmod(cell, SIDE)
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            nxt = nr * SIDE + nc
            if 0 <= nr < SIDE and 0 <= nc < SIDE and parent[nxt] < 0 and grid[nxt] != WALL:
                parent[nxt] = cell
                queue.append(nxt)
    if parent[goal] < 0:
        return None
    answer = grid.copy()
    cell = parent[goal]
    while cell != start:
        answer[cell] = PATH
        cell = parent[cell]
    return answer


def generate(n: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """n perfect 30x30 mazes -> (questions, labels), (n, 900) int32 tokens each.

    Passages are carved by a randomised depth-first search over the cells at odd coordinates (1..27),
    so every pair of open cells has exactly one route and the label is unambiguous; S and G are two
    distinct random open cells. Maze i depends only on (seed, i). Far easier than Maze-Hard (whose
    routes are long by construction): meant for tests and smoke runs.
    """
    questions = np.empty((n, SEQ_LEN), np.int32)
    labels = np.empty((n, SEQ_LEN), np.int32)
    for i in range(n):
        entropy = [*seed, i] if isinstance(seed, (tuple, list)) else [seed, i]
        rng = np.random.default_rng(entropy)
        grid = _carve(rng)
        open_cells = np.flatnonzero(grid == OPEN)
        start, goal = rng.choice(open_cells, size=2, replace=False)
        grid[start], grid[goal] = START, GOAL
        questions[i], labels[i] = grid, solve(grid)
    return questions, labels


def _carve(rng: np.random.Generator) -> np.ndarray:
    """A perfect maze: all walls, then passages carved by an iterative randomised DFS."""
    grid = np.full((SIDE, SIDE), WALL, np.int32)
    cells = (SIDE - 2) // 2  # 14 x 14 rooms at odd coordinates
    seen = np.zeros((cells, cells), bool)
    stack = [(0, 0)]
    seen[0, 0] = True
    grid[1, 1] = OPEN
    while stack:
        r, c = stack[-1]
        options = [(r + dr, c + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))
                   if 0 <= r + dr < cells and 0 <= c + dc < cells and not seen[r + dr, c + dc]]
        if not options:
            stack.pop()
            continue
        nr, nc = options[rng.integers(len(options))]
        seen[nr, nc] = True
        grid[2 * nr + 1, 2 * nc + 1] = OPEN
        grid[r + nr + 1, c + nc + 1] = OPEN  # the wall between the two rooms
        stack.append((nr, nc))
    return grid.reshape(SEQ_LEN)
