"""Ray start-up: attach to a cluster, or start a local single-node Ray sized for the machine."""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)


def ensure_ray(address: str | None = None, num_cpus: int | None = None,
               quiet: bool = True) -> None:
    """Connect to ``address`` ("auto", "ray://…", "host:port"), or start a local Ray.

    Does nothing if Ray is already initialized (tests share one instance per session).
    """
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    # Small inputs: do not bin-pack many small Parquet files into one 128 MiB block
    # (that would leave one worker doing everything; see docs/platform.md).
    os.environ.setdefault("RAY_DATA_PARQUET_BIN_PACKING_BYTES", str(8 * 2**20))
    kwargs: dict = {"log_to_driver": not quiet, "configure_logging": not quiet}
    address = address or os.environ.get("RAY_ADDRESS")  # set by `ray job submit`
    if address:
        ray.init(address=address, **kwargs)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **kwargs)
    log.info("ray: %s", ray.cluster_resources())


def cluster_cpus() -> int:
    import ray

    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def worker_count(requested: int | None) -> int:
    """Parallel tasks/actors for a CPU stage: the request, capped by the cluster's CPUs."""
    cpus = cluster_cpus()
    return max(1, min(requested, cpus) if requested else cpus)


def configure_data_context(show_progress: bool) -> None:
    """Progress bars on or off; without them, Ray Data's per-dataset INFO lines are noise."""
    from ray.data import DataContext

    logging.getLogger("ray.data").setLevel(logging.INFO if show_progress else logging.ERROR)
    ctx = DataContext.get_current()
    ctx.enable_progress_bars = show_progress
    ctx.print_on_execution_start = show_progress


@dataclass
class UnitRun:
    totals: Counter  # every unit's done-marker counters, summed
    ran: list[str]  # keys of the units this call executed (the others were already done)
    ran_totals: Counter  # the counters of the units this call executed only

    def counters(self) -> Counter:
        """The stage counters (everything but the ``usage:`` token accounting)."""
        return Counter({k: v for k, v in self.totals.items() if not k.startswith("usage:")})

    def usage(self):
        """LLM usage (``usage:<field>`` counters) of the units this call ran: what the run
        spent. Units finished by an earlier, interrupted run cost nothing now."""
        from proda_ray.engines import Usage

        u = Usage()
        u.merge({k.removeprefix("usage:"): v for k, v in self.ran_totals.items()
                 if k.startswith("usage:")})
        return u


def run_units(ws, scratch: str, phase: str, units: list[dict], udf, udf_args: tuple,
              workers: int, actors: bool, num_cpus: float = 1, inline: bool = False
              ) -> UnitRun:
    """Run ``udf`` on Ray Data over the units whose ``<phase>/<key>.done.json`` is missing.

    A unit is a row with a ``key`` (and whatever the UDF needs). The UDF writes the unit's
    outputs itself, then its done marker (a JSON of counters), and returns a summary row: the
    data never passes through the driver. A killed run redoes only unfinished units.
    Tasks (``actors=False``) suit stateless steps; actors hold a model or tokenizer.
    ``inline`` runs the units one after another in this process (one UDF instance): for
    UDFs that drive a distributed engine themselves (vLLM through ``ray.data.llm``).
    """
    import posixpath

    import ray

    todo = [u for u in units if not ws.exists(scratch, phase, f"{u['key']}.done.json")]
    if todo and inline:
        import numpy as np

        inst = udf(*udf_args) if actors else None
        for n, u in enumerate(todo, 1):
            batch = {k: np.array([v]) for k, v in u.items()}
            inst(batch) if actors else udf(batch, *udf_args)
            print(f"[{phase}] unit {u['key']} done ({n}/{len(todo)})", flush=True)
    elif todo:
        ds = ray.data.from_items(todo, override_num_blocks=len(todo))
        size = min(workers, len(todo))
        compute = (ray.data.ActorPoolStrategy(min_size=1, max_size=size) if actors
                   else ray.data.TaskPoolStrategy(size=size))
        ds = ds.map_batches(udf, batch_size=1, compute=compute, num_cpus=num_cpus,
                            fn_constructor_args=udf_args if actors else None,
                            fn_args=None if actors else udf_args)
        ds.take_all()  # one small summary row per unit
    totals: Counter = Counter()
    ran_totals: Counter = Counter()
    ran = {u["key"] for u in todo}
    for u in units:
        done = ws.read_json(posixpath.join(scratch, phase, f"{u['key']}.done.json"))
        totals.update(done)
        if u["key"] in ran:
            ran_totals.update(done)
    return UnitRun(totals, [u["key"] for u in todo], ran_totals)
