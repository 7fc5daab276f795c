"""Backends: Ray actors give exactly the local records, survive a killed actor, and refuse a dead address."""
import logging
import time
from dataclasses import replace

import pandas as pd
import pytest
import ray
from click.testing import CliRunner

from cli.main import main
from ptrm.backends import BackendSpec, LocalBackend, RayBackend, make_backend
from ptrm.checkpoint import load_checkpoint
from ptrm.plan import ExecutionPlan
from ptrm.runner import run_search
from ptrm.search import SearchConfig, sort_records, work_items
from ptrm.store import load_run

# Small items, so the run is many items long and an actor can be killed while it holds some.
CFG = SearchConfig(K=8, sigma=0.3, D=2, chunk_size=8)


@pytest.fixture(scope="module")
def ray_session():
    """One local Ray (2 CPUs) for the whole module: start-up costs seconds. Backends join it, and leave it up."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ck(tiny_ckpt):
    return load_checkpoint(tiny_ckpt)


@pytest.fixture(scope="module")
def local_records(ck, puzzles):
    return run_search(ck, puzzles, CFG, progress=False, deterministic=False).records


def test_one_worker_without_an_address_stays_in_process(ck):
    assert isinstance(make_backend(ck, BackendSpec(workers=1)), LocalBackend)


def test_search_on_two_ray_workers_writes_exactly_the_local_records(ray_session, tiny_ckpt, local_records, tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--samples", "8", "--sigma", "0.3",
                                    "--steps", "2", "--chunk-size", "8", "--workers", "2", "--out", str(out)])
    assert res.exit_code == 0, res.output
    run = load_run(out)
    pd.testing.assert_frame_equal(run.records, local_records)
    info = run.manifest["backend"]
    assert info["name"] == "ray" and info["workers"] == 2 and len({a["pid"] for a in info["actors"]}) == 2
    # no GPUs in this cluster: none asked for, and each actor's torch uses the one CPU it was given
    assert info["gpus_per_worker"] == 0 and [a["torch_threads"] for a in info["actors"]] == [1, 1]


def test_an_actor_killed_mid_run_is_restarted_and_the_records_do_not_change(ray_session, ck, puzzles,
                                                                            local_records):
    with RayBackend(ck, BackendSpec(workers=2)) as pool:
        victim = pool.actors[0]
        pid = ray.get(victim.info.remote())["pid"]
        items = work_items(len(puzzles), CFG.K, CFG.chunk_size)
        parts = []
        for records in pool.map(puzzles, items, CFG, ExecutionPlan.resolve("cpu", CFG.dtype, CFG.chunk_size)):
            if not parts:  # the victim still holds queued items: Ray must restart it and retry them
                ray.kill(victim, no_restart=False)
            parts.append(records)
        assert ray.get(victim.info.remote())["pid"] != pid  # a new process, which reloaded the model
    assert len(parts) == len(items)
    pd.testing.assert_frame_equal(sort_records(pd.concat(parts, ignore_index=True)), local_records)


def test_ray_workers_give_the_local_records_with_stopping_rules_on(ray_session, ck, puzzles):
    cfg = replace(CFG, D=4, halt_q=-3.0, stop_q=-1.0)  # rollouts leave their item's batch at different steps
    local = run_search(ck, puzzles, cfg, progress=False, deterministic=False).records
    with RayBackend(ck, BackendSpec(workers=2)) as pool:
        remote = run_search(ck, puzzles, cfg, backend=pool, progress=False, deterministic=False).records
    pd.testing.assert_frame_equal(remote, local, check_exact=True)
    assert local.steps.nunique() > 1


def test_an_unreachable_ray_address_is_a_quick_one_line_error(tiny_ckpt):
    start = time.monotonic()
    res = CliRunner().invoke(main, ["search", "--ckpt", str(tiny_ckpt), "--workers", "2",
                                    "--ray-address", "127.0.0.1:1"])
    assert res.exit_code == 2
    assert res.output.startswith("error: --ray-address 127.0.0.1:1: no Ray cluster answers there")
    assert len(res.output.strip().splitlines()) == 1
    assert time.monotonic() - start < 30
