"""Where work items run. A backend maps (puzzles, work items, search config) to record DataFrames.

LocalBackend runs them in this process, one after another: no start-up cost, the default for one worker.
"""
import os

import torch

from ptrm.search import run_item


class LocalBackend:
    def __init__(self, model):
        self.model = model

    def map(self, pset, items, cfg):
        for item in items:
            yield run_item(self.model, pset, item, cfg)

    def describe(self) -> dict:
        return {"name": "local", "device": str(self.model.device), "torch_threads": torch.get_num_threads(),
                "cpus": os.cpu_count()}
