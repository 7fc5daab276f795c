"""Where work items run. A backend maps (puzzles, work items, search config, execution plan) to record DataFrames.

LocalBackend runs them in this process, one after another: no start-up cost, the default for one worker.
RayBackend fans them out over a pool of Ray actors, each holding the model once. Records are a pure
function of (checkpoint, puzzle, seed, k, sigma, D), so both give identical records, and a work item that
Ray re-runs after an actor died gives the rows it would have given the first time.

Both implement `Backend` and are context managers: `with make_backend(ckpt, BackendSpec(workers=2)) as backend:
run_search(..., backend)`. A new backend (a job queue, several GPUs per process) is one `Backend` subclass.
Ray (and grpc) are imported inside the functions that use them: a seconds-long import that an in-process
search never needs.
"""
import ctypes
import logging
import os
import socket
import sys
from dataclasses import dataclass

import torch

from ptrm import hardware
from ptrm.checkpoint import load_checkpoint
from ptrm.errors import PtrmError
from ptrm.search import run_work_item


def release_memory() -> None:
    """Hand freed heap pages back to the OS after a work item (glibc only).

    Without it, glibc keeps the freed activation buffers of each item in a fragmented heap and the resident
    size of an fp32 search grew with the puzzle count (measured: 895 -> 1,080 MB from 8 to 64 puzzles at
    K=64); with it, it stays flat (953 -> 919 MB). One call per item costs nothing measurable.
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


@dataclass(frozen=True)
class BackendSpec:
    """Where a search's work items run: `workers` Ray actors (1: this process, without Ray), each with
    `gpus_per_worker` GPUs (fractions share one), on the cluster at `ray_address` ("auto" or HOST:PORT; None: a
    local one, started for the search)."""
    workers: int = 1
    gpus_per_worker: float = 1.0
    ray_address: str | None = None

    def validate(self) -> "BackendSpec":
        if self.workers < 1:
            raise PtrmError(f"--workers must be >= 1, got {self.workers}")
        if not self.gpus_per_worker >= 0:  # also rejects NaN
            raise PtrmError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")
        return self


class Backend:
    """The interface: `map` yields the records of each work item (in any order; records do not depend on it),
    each run by ptrm.search.run_work_item with the search config and the ExecutionPlan (ptrm.plan) the runner
    resolved; `describe` says for the manifest where they ran, `close` releases what the backend holds. An
    in-process backend calls `on_step(rows)`, when set, after every supervision step (progress; Ray actors report
    per item)."""
    on_step = None

    def map(self, pset, items, cfg, plan):
        raise NotImplementedError

    def describe(self) -> dict:
        raise NotImplementedError

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class LocalBackend(Backend):
    def __init__(self, model):
        self.model = model

    def map(self, pset, items, cfg, plan):
        for item in items:
            records = run_work_item(self.model, pset, item, cfg, plan, on_step=self.on_step)
            release_memory()
            yield records

    def describe(self) -> dict:
        return {"name": "local", "device": str(self.model.device), "torch_threads": torch.get_num_threads(),
                "cpus": os.cpu_count()}


def make_backend(ckpt, spec: BackendSpec = BackendSpec()) -> Backend:
    """In-process for one worker (no Ray start-up cost), Ray actors for more or for a given cluster.

    Every actor loads the checkpoint from its path the way this side did (`ckpt.load_kwargs`, e.g. the
    arch= an official file needed).
    """
    if spec.validate().workers == 1 and spec.ray_address is None:
        return LocalBackend(ckpt.model)
    return RayBackend(ckpt, spec)


class Worker:
    """One Ray actor: loads the checkpoint once, then runs work items for as long as it lives.

    A restarted actor runs __init__ again, so it reloads the model from the path; the items it held are
    resubmitted by Ray (max_task_retries) and, being pure functions of their inputs, give the same rows.
    """

    def __init__(self, path: str, sha256: str, load_kwargs: dict, cpus: int):
        device = hardware.default_device()  # Ray shows an actor only the GPUs it asked for (none: CPU)
        if device.type == "cpu":
            torch.set_num_threads(cpus)
        self.ckpt = load_checkpoint(path, device=device, **load_kwargs)
        if self.ckpt.sha256 != sha256:  # on a cluster every node reads its own copy of the path
            raise PtrmError(f"{path} on {socket.gethostname()} is not the driver's file "
                            f"(sha256 {self.ckpt.sha256[:12]} vs {sha256[:12]})")

    def run(self, pset, item, cfg, plan):
        records = run_work_item(self.ckpt.model, pset, item, cfg, plan)
        release_memory()
        return records

    def info(self) -> dict:
        return {"host": socket.gethostname(), "pid": os.getpid(), "device": str(self.ckpt.model.device),
                "torch_threads": torch.get_num_threads()}


class RayBackend(Backend):
    """A pool of `spec.workers` Ray actors. Items stream back as they finish (ray.wait), so the progress bar
    moves; at most two items per actor are in flight (one running, one queued), so memory stays flat.

    With `spec.ray_address` ("auto" or HOST:PORT) it joins that cluster, else it starts a local one; if this
    process already runs a Ray session (a test, a notebook) it uses that and leaves it running.
    """

    def __init__(self, ckpt, spec: BackendSpec = BackendSpec(workers=2), cpus_per_worker: int | None = None,
                 max_restarts: int = 3, max_task_retries: int = 3, start_timeout: float = 300.0):
        import ray

        spec.validate()
        workers, address = spec.workers, spec.ray_address
        if address is not None:
            check_ray_address(address)
        self.owns_ray = not ray.is_initialized()
        if self.owns_ray:
            try:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError) as e:  # e.g. a wrong auth token: Ray retried, then gave up
                first = str(e).strip().splitlines()[0][:200]
                raise PtrmError(f"Ray could not start or join a cluster ({first})") from None
        self.actors = []
        try:  # a half-started pool must not leave actors (or a Ray session we started) behind
            self.cpus, self.gpus = actor_resources(workers, spec.gpus_per_worker, cpus_per_worker)
            actor = ray.remote(Worker).options(num_cpus=self.cpus, num_gpus=self.gpus, max_restarts=max_restarts,
                                               max_task_retries=max_task_retries)
            self.actors = [actor.remote(ckpt.path, ckpt.sha256, ckpt.load_kwargs, self.cpus)
                           for _ in range(workers)]
            self.actor_info = self._wait_ready(ckpt.path, start_timeout)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, path, timeout) -> list[dict]:
        """Wait until every actor holds the model: a load error or an ask the cluster cannot meet shows here."""
        import ray

        try:
            return ray.get([a.info.remote() for a in self.actors], timeout=timeout)
        except ray.exceptions.GetTimeoutError:
            raise PtrmError(f"{len(self.actors)} Ray workers asking for {self.cpus} CPUs and {self.gpus:g} GPUs "
                            f"each did not start within {timeout:g} s (cluster: {ray.cluster_resources()})") from None
        except ray.exceptions.RayActorError as e:  # the actor's own error is the traceback's last line
            raise PtrmError(f"Ray workers could not load {path}: {str(e).strip().splitlines()[-1]}") from None

    def map(self, pset, items, cfg, plan):
        import ray

        pset_ref = ray.put(pset)  # the puzzles go to each node once, not with every item
        todo = iter(items)
        pending = {}  # object ref -> the actor running it

        def submit(actor):
            item = next(todo, None)
            if item is not None:
                pending[actor.run.remote(pset_ref, item, cfg, plan)] = actor

        for actor in self.actors * 2:
            submit(actor)
        while pending:
            [done], _ = ray.wait(list(pending), num_returns=1)
            submit(pending.pop(done))  # refill the actor that just finished before handing rows back
            yield ray.get(done)

    def describe(self) -> dict:
        import ray

        return {"name": "ray", "workers": len(self.actors), "cpus_per_worker": self.cpus,
                "gpus_per_worker": self.gpus, "address": ray.get_runtime_context().gcs_address,
                "actors": self.actor_info}

    def close(self):
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
        if self.owns_ray:
            ray.shutdown()


def actor_resources(workers: int, gpus_per_worker: float, cpus_per_worker: int | None) -> tuple[int, float]:
    """(CPUs, GPUs) each actor asks for. GPUs only where the cluster has some (else the actors would wait
    forever), fractions allowed so several actors share a device; the cluster's CPUs spread over the
    workers, but never more than one node has."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n["Alive"]]
    node_cpus = max(int(n.get("CPU", 0)) for n in nodes)
    node_gpus = max(n.get("GPU", 0) for n in nodes)
    gpus = gpus_per_worker if node_gpus > 0 else 0
    if gpus > node_gpus:
        raise PtrmError(f"--gpus-per-worker {gpus_per_worker}: no node has more than {node_gpus:g} GPUs")
    cpus = cpus_per_worker or max(1, min(node_cpus, int(ray.cluster_resources().get("CPU", 1)) // workers))
    return cpus, gpus


def check_ray_address(address: str, timeout: float = 10.0) -> None:
    """Make sure a Ray cluster answers at `address` ("auto" or HOST:PORT) before ray.init joins it.

    ray.init retries an unreachable address for minutes; one gRPC call to the cluster's control store
    (GCS) answers within `timeout` seconds.
    """
    import grpc
    from ray._private.services import canonicalize_bootstrap_address_or_die

    target = address
    if address == "auto":
        try:  # RAY_ADDRESS, else the cluster `ray start` recorded on this machine
            target = canonicalize_bootstrap_address_or_die("auto")
        except ConnectionError:
            raise PtrmError("--ray-address auto: no running Ray cluster on this machine (start one with "
                            "`ray start --head`, or give HOST:PORT)") from None
    with grpc.insecure_channel(target) as channel:
        try:
            channel.unary_unary("/ray.rpc.NodeInfoGcsService/GetClusterId")(b"", timeout=timeout)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAUTHENTICATED:
                detail = (e.details() or "").strip().splitlines()
                where = address if target == address else f"{address} ({target})"
                raise PtrmError(f"--ray-address {where}: no Ray cluster answers there "
                                f"({e.code().name}{': ' + detail[0][:160] if detail else ''})") from None
            # A live cluster that wants its auth token. Ray sends the local token by itself only to a
            # cluster it found with "auto"; to an explicit address, only in token mode.
            if address != "auto" and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
                raise PtrmError(f"--ray-address {address}: the cluster requires token authentication; set "
                                f"RAY_AUTH_MODE=token (token in RAY_AUTH_TOKEN or ~/.ray/auth_token)") from None
