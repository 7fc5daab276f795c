"""PPBench's golden set: the benchmark's 15 puzzles per type, read into Boards through pzpr.js.

`vendor/golden_six.jsonl` holds the lines of the six types we model, verbatim from the `ppbench` wheel's
`bundled/golden_300.jsonl` (MIT, see vendor/LICENSE-ppbench.txt): each a puzz.link URL and its solution as
pzpr.js moves, the solution stored as base64 of the JSON XOR-ed with the bytes of "ppbench" (the benchmark's
guard against the answers landing in crawled training text). We never import `ppbench` (it pulls an LLM
stack): pzpr.js opens each URL, plays the moves and reports the solved board (`pzpr.run`).
"""
import base64
import json
from dataclasses import dataclass
from pathlib import Path

from ptrm.errors import PtrmError
from ptrm.tasks.ppbench import pzpr
from ptrm.tasks.ppbench.board import FRAME, KINDS, Board

GOLDEN = Path(__file__).with_name("vendor") / "golden_six.jsonl"
_KEY = b"ppbench"


@dataclass
class GoldenPuzzle:
    kind: str
    url: str             # the puzz.link URL: the puzzle's name in reports
    moves: list[str]     # PPBench's solution moves
    board: Board | None  # None when skipped
    skipped: str = ""    # why it was skipped ("" when kept)


def decode_solution(enc: str) -> dict:
    """A `solution_enc` field: base64 of the JSON XOR-ed with b"ppbench", repeated."""
    raw = base64.b64decode(enc)
    return json.loads(bytes(b ^ _KEY[i % len(_KEY)] for i, b in enumerate(raw)))


def read_lines(path=GOLDEN) -> list[dict]:
    """The golden set's records of our six kinds, solutions decoded, in file order."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise PtrmError(f"{path}: cannot read: {e.strerror}") from None
    records = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            rec["moves"] = decode_solution(rec.pop("solution_enc"))["moves_full"]
            _ = rec["pid"], rec["puzzlink_url"]
        except (ValueError, KeyError, TypeError) as e:
            raise PtrmError(f"{path}:{n}: not a PPBench golden record ({e})") from None
        if rec["pid"] in KINDS:
            records.append(rec)
    return records


def load(path=GOLDEN, frame: int = FRAME) -> list[GoldenPuzzle]:
    """Every golden puzzle of our kinds, each solved through pzpr.js; those that do not fit the model's
    frame (or whose clues our codes cannot express) carry the reason they are skipped."""
    records = read_lines(path)
    results = pzpr.run([{"url": r["puzzlink_url"], "moves": r["moves"]} for r in records])
    puzzles = []
    for rec, res in zip(records, results):
        kind, url = rec["pid"], rec["puzzlink_url"]
        if "error" in res:
            raise PtrmError(f"{path}: pzpr.js cannot open {url}: {res['error']}")
        if not res["complete"]:
            raise PtrmError(f"{path}: the golden solution of {url} fails pzpr.js's check ({res['code']})")
        state = res["state"]
        if state["rows"] > frame or state["cols"] > frame:
            why = f"{state['rows']}x{state['cols']} is larger than the {frame}x{frame} frame"
            puzzles.append(GoldenPuzzle(kind, url, rec["moves"], None, why))
            continue
        try:
            board = pzpr.from_state(state)
        except PtrmError as e:
            puzzles.append(GoldenPuzzle(kind, url, rec["moves"], None, str(e)))
            continue
        puzzles.append(GoldenPuzzle(kind, url, rec["moves"], board))
    return puzzles
