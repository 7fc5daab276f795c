"""Named search protocols, so a table's settings are named once here and not repeated as defaults in scripts.

A preset fills SearchConfig fields; options given explicitly on top of it win (`--preset adaptive --settle 5`).
"""
from ptrm.errors import PtrmError

PRESETS = {
    # The paper's protocol: every rollout runs all D supervision steps (Sghaier et al. 2026, Algorithm 1).
    "paper": {"halt_q": None, "settle": 0, "stop_q": None, "give_up_q": None},
    # The README's adaptive compute: a rollout stops once its Q head says it is right (q_halt >= 0), once its
    # answer has not changed for 3 steps, or from step 8 on once its Q head is sure it is wrong (q_halt <= -3).
    # Chosen by replay on puzzles no table reports (results/adaptive/selection).
    "adaptive": {"halt_q": 0.0, "settle": 3, "stop_q": None, "give_up_q": -3.0},
}


def preset(name: str) -> dict:
    if name not in PRESETS:
        raise PtrmError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return dict(PRESETS[name])
