"""Options the commands share, and the one way to open a checkpoint and its puzzles."""
import dataclasses
import functools

import click
from click.core import ParameterSource

from ptrm import budget, tasks
from ptrm.backends import BackendSpec
from ptrm.checkpoint import load_checkpoint, parse_arch_overrides
from ptrm.checkpoint.native import FORMAT as NATIVE_FORMAT
from ptrm.errors import PtrmError
from ptrm.evaluate import check_compatible
from ptrm.data import load_puzzles
from ptrm.presets import PRESETS, preset
from ptrm.tasks.command_options import stack
from ptrm.population import RESAMPLING
from ptrm.search import DTYPES, MODES, NOISE_TARGETS, SIGMA_SCALES, SearchConfig


checkpoint_options = stack([
    click.option("--ckpt", required=True, type=click.Path(dir_okay=False),
                 help="Checkpoint: ptrm .pt, official step_N (with all_config.yaml beside it if any), or .safetensors."),
    click.option("--arch", multiple=True, metavar="KEY=VALUE",
                 help="Architecture field an official checkpoint cannot tell, repeatable: --arch num_heads=8."),
    click.option("--task", help=f"Task ({', '.join(tasks.REGISTRY)}) when neither the checkpoint nor the data tell."),
    click.option("--device", help="cpu, cuda or cuda:N (default: $PTRM_DEVICE, else CUDA when present). "
                                  "Ray actors use the GPUs --gpus-per-worker gives them."),
])

data_options = stack([
    click.option("--data", type=click.Path(), help="CSV or official dataset folder (default: the checkpoint's test set)."),
    click.option("--limit", type=click.IntRange(min=1), help="Use the first N puzzles."),
])

# The options registered tasks add to the commands that open puzzles (ARC: --arc-augs); see open_puzzles.
task_options = stack([option.option for task in tasks.REGISTRY.values() for option in task.options])


def backend_options(f):
    """--workers, --gpus-per-worker and --ray-address; the command receives them as one validated BackendSpec,
    `backend_spec` (ptrm.backends: where the work items run)."""
    @functools.wraps(f)
    def command(*args, workers, gpus_per_worker, ray_address, **kwargs):
        return f(*args, backend_spec=BackendSpec(workers, gpus_per_worker, ray_address).validate(), **kwargs)
    return stack([
        click.option("--workers", default=1, show_default=True, type=int,
                     help="Ray actors; 1 runs in this process, without Ray."),
        click.option("--gpus-per-worker", default=1.0, show_default=True, type=float,
                     help="GPUs per Ray actor (fractions share a GPU); ignored on a cluster without GPUs."),
        click.option("--ray-address", help="Join a running Ray cluster: 'auto' or HOST:PORT (default: start one)."),
    ])(command)

# SearchConfig field -> its command-line flags and help. Defaults and types come from the dataclass.
_SEARCH_FLAGS = {
    "K": (("--samples", "-K"), "Rollouts K per puzzle (the curve over k <= K comes free)."),
    "sigma": (("--sigma",), "Noise std (absolute, or relative to the state's RMS: --sigma-scale)."),
    "sigma_scale": (("--sigma-scale",), "absolute: sigma as is (the paper); relative: sigma x the perturbed "
                                        "state's RMS per token (one sigma across models of different scale)."),
    "D": (("--steps",), "Supervision steps D (default: the checkpoint's N_sup)."),
    "seed": (("--seed",), "Seed of the rollout noise."),
    "noise_on": (("--noise-on",), "Perturb the latent z (paper), the answer state y, or both."),
    "chunk_size": (("--chunk-size",), "Rollouts per forward batch (speed and memory only: the same records up to "
                                      "last-bit rounding; default: 64 on a CPU, 8192 on a GPU)."),
    "dtype": (("--dtype",), "Activation dtype; auto = bf16 where the hardware computes it natively, else fp32."),
    "per_step": (("--per-step",), "Also record q_halt, correctness and answer hash after every step."),
    "halt_q": (("--halt-q",), "Adaptive: stop a rollout after the first step whose q_halt logit reaches this "
                              "(default: off; fixed D is the paper's method)."),
    "settle": (("--settle",), "Adaptive: stop a rollout once its answer is unchanged for this many steps "
                              "(0: off; fixed D is the paper's method)."),
    "stop_q": (("--stop-q",), "Adaptive: stop all of a puzzle's rollouts once one has a q_halt logit of at least "
                              "this (default: off; keeps each puzzle's K rollouts in one batch)."),
    "give_up_q": (("--give-up-q",), "Adaptive: stop a rollout whose q_halt logit is at most this at step "
                                    "--give-up-step or later (it is confident it is wrong; default: off)."),
    "give_up_step": (("--give-up-step",), "The first supervision step at which --give-up-q applies."),
    "mode": (("--mode",), "independent: K independent rollouts (the paper); population: K particles resampled by "
                          "Q between steps; waves: adaptive width, K0 rollouts per wave up to K (docs/method.md)."),
    "temperature": (("--temperature",), "Population: resampling weights softmax(q_halt / temperature)."),
    "resampling": (("--resampling",), "Population: the resampling scheme."),
    "k0": (("--k0",), "Waves: rollouts per puzzle in each wave (K0)."),
    "q_threshold": (("--q-threshold",), "Waves: a puzzle gets another wave while its best q_halt is below this."),
    "budget": (("--budget",), "Waves: rollout-steps for the whole run, never exceeded (default: only K caps it)."),
}
_CHOICES = {"noise_on": NOISE_TARGETS, "sigma_scale": SIGMA_SCALES, "dtype": DTYPES, "mode": MODES,
            "resampling": RESAMPLING}
# the noise is seeded by a signed 64-bit integer: a larger seed would wrap onto another's records
_RANGES = {"seed": click.IntRange(0, 2**63 - 1)}
# the type of fields whose default None means off or auto
_OPTIONAL = {"D": int, "chunk_size": int, "halt_q": float, "stop_q": float, "give_up_q": float, "budget": int}


def search_option(name: str, default=None):
    """The option of SearchConfig field `name`, the same flag and meaning in every command that has it (default:
    the dataclass's)."""
    if default is None:
        default = next(f.default for f in dataclasses.fields(SearchConfig) if f.name == name)
    flags, help_text = _SEARCH_FLAGS[name]
    if isinstance(default, bool):
        return click.option(*flags, name, is_flag=True, default=default, help=help_text)
    kind = (click.Choice(_CHOICES[name]) if name in _CHOICES else _RANGES[name] if name in _RANGES
            else _OPTIONAL[name] if default is None else type(default))
    return click.option(*flags, name, default=default, show_default=default is not None, type=kind, help=help_text)


def search_options(*names, **defaults):
    """Options for the SearchConfig fields `names` (all when none are named), with the dataclass's defaults
    unless `defaults` gives others, and --preset (ptrm.presets: options given explicitly win over it); the
    command receives them as one validated SearchConfig, `search_cfg`."""
    names = names or tuple(_SEARCH_FLAGS)
    field_defaults = {f.name: f.default for f in dataclasses.fields(SearchConfig)}

    def decorate(f):
        @functools.wraps(f)
        def command(*args, **kwargs):
            values, ctx = {n: kwargs.pop(n) for n in names}, click.get_current_context()
            name = kwargs.pop("preset")
            for field, value in (preset(name) if name else {}).items():
                if field in names and ctx.get_parameter_source(field) is ParameterSource.DEFAULT:
                    values[field] = value
            return f(*args, search_cfg=SearchConfig(**values).validate(), **kwargs)
        preset_option = click.option("--preset", type=click.Choice(list(PRESETS)),
                                     help="Named protocol: paper = fixed D; adaptive = --halt-q 0 --settle 3 "
                                          "--give-up-q -3. Options given explicitly win.")
        return stack([preset_option] + [search_option(n, defaults.get(n, field_defaults[n])) for n in names])(command)
    return decorate


quiet_option = click.option("--quiet", is_flag=True, help="No progress (in a log, progress is one line per work item).")

budget_options = stack([
    click.option("--budget-hours", default=budget.DEFAULT_HOURS, show_default=True, type=float,
                 help="Refuse a search estimated (one timed step, before the work) to take longer than this."),
    click.option("--budget-gib", type=float, help="Refuse a search whose records would need more memory than "
                                                  "this (default: this machine's memory)."),
    click.option("--yes", is_flag=True, help="Run a search over the budget anyway."),
])


def check_budget(ck, pset, cfg, n_puzzles, depths=None, workers=1, budget_hours=None, budget_gib=None, yes=False):
    """Estimate the search's time and memory (ptrm.budget) and refuse it over budget unless --yes."""
    check_compatible(ck.model, pset)  # the timed step must be one the model can read
    est = budget.estimate(ck.model, pset, cfg, n_puzzles, depths, workers)
    if not yes:
        budget.check(est, budget_hours, budget_gib)
    return est


def open_checkpoint(ckpt, arch, task, device=None):
    overrides = parse_arch_overrides(arch)
    ck = load_checkpoint(ckpt, device=device, arch=overrides, task=task)
    recorded = ck.meta.get("model_config") if ck.meta.get("format") == NATIVE_FORMAT else None
    for key, value in (overrides or {}).items() if recorded else ():
        if recorded.get(key) != value:
            raise PtrmError(f"--arch {key}={value}: {ckpt} is a ptrm checkpoint, which records its architecture "
                            f"({key}={recorded.get(key)}); --arch is for official checkpoints")
    return ck


def open_puzzles(ck, data, limit, task, **task_values):
    """The puzzles of --data (else the checkpoint's test set) as the checkpoint reads them, narrowed by the task
    options given (`task_values`: the values of `task_options`) and --limit."""
    pset = load_puzzles(data, task=task) if data else ck.test_set()
    pset = tasks.get(pset.task).align(pset, ck.path, ck.cfg.puzzle_emb_ndim)
    for option in (o for t in tasks.REGISTRY.values() for o in t.options):
        if task_values.get(option.name):
            pset = option.apply(pset, task_values[option.name])
    return pset.head(limit) if limit else pset

