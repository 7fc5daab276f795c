"""One pencil puzzle as numpy grids: the form every PPBench module shares (reader, rules, generators, tokens).

A `Board` is a puzzle of one kind: its clue grid, its rooms (heyawake only) and, when known, its solution,
each an (H, W) int array in row-major order. Codes per kind (what a cell of `clues` / `solution` means):

| kind        | clues                                                     | solution                          |
|-------------|-----------------------------------------------------------|-----------------------------------|
| sudoku      | 0 empty, 1-9 a given digit                                | 1-9                               |
| lightup     | WHITE (-1) a white cell; 0-4 a numbered black; BLACK (5)  | 1 a bulb, 0 none (0 on blacks)    |
| nurikabe    | 0 no number; n >= 1 the island's size; UNKNOWN (-2) '?'   | 1 shaded (wall), 0 island         |
| heyawake    | -1 no number; n >= 0 the room's shaded count, written on  | 1 shaded, 0 unshaded              |
|             | the room's top-left cell (first in row-major order)       |                                   |
| tapa        | -1 no clue; else an index into TAPA_CLUES                 | 1 shaded, 0 unshaded (0 on clues) |
| shakashaka  | WHITE (-1) a white cell; 0-4 a numbered black; BLACK (5)  | 0 empty; 1-4 a half-shaded        |
|             |                                                           | triangle, its shaded corner: 1 bottom-left, 2 bottom-right, 3 top-right, 4 top-left |

`given`: a partly solved state shown in a model's input (the paper's trajectory samples): solution codes on the
cells already decided, UNDECIDED (-1) elsewhere; None when only the clues are shown.
`rooms` (heyawake): (H, W) room ids 0..R-1, each room a connected rectangle. Sizes fit the model's frame:
at most FRAME x FRAME (sudoku's 9x9 sits in the 10x10 frame).
"""
from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np

KINDS = ("sudoku", "lightup", "nurikabe", "heyawake", "tapa", "shakashaka")
FRAME = 10            # the model's square frame: every board is at most FRAME x FRAME
WHITE, BLACK, UNKNOWN = -1, 5, -2
UNDECIDED = -1        # a cell of `given` that is not decided yet


def _tapa_clues() -> tuple[tuple[int, ...], ...]:
    """Every clue a tapa cell can hold: the lengths of the shaded runs around it, sorted descending.

    Around a cell lie 8 neighbours on a ring; r runs of total length s fit when s + r <= 8 (a white cell
    between runs), except one run of 8 (the full ring). (0,) is the clue "0": no shaded neighbour.
    """
    clues = [(0,), (8,)]
    for r in range(1, 5):
        for runs in combinations_with_replacement(range(7, 0, -1), r):
            if sum(runs) + r <= 8:
                clues.append(tuple(sorted(runs, reverse=True)))
    return tuple(sorted(set(clues), key=lambda c: (len(c), c)))


TAPA_CLUES = _tapa_clues()
TAPA_INDEX = {clue: i for i, clue in enumerate(TAPA_CLUES)}


def canonical_rooms(rooms: np.ndarray) -> np.ndarray:
    """Room ids 0..R-1 in the row-major order of each room's first cell (one numbering per room layout)."""
    ids, first = np.unique(rooms.ravel(), return_index=True)
    new = np.zeros(ids.max() + 1, np.int16)
    new[ids[np.argsort(first)]] = np.arange(len(ids))
    return new[rooms]


@dataclass
class Board:
    kind: str                          # one of KINDS
    clues: np.ndarray                  # (H, W) int16, codes above
    solution: np.ndarray | None = None  # (H, W) int8, codes above; None for an unsolved puzzle
    rooms: np.ndarray | None = None    # (H, W) int16 room ids; heyawake only
    given: np.ndarray | None = None    # (H, W) int8 partial solution shown in the input; UNDECIDED elsewhere

    @property
    def shape(self) -> tuple[int, int]:
        return self.clues.shape
