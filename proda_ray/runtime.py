"""Ray start-up: attach to a cluster, or start a local single-node Ray sized for the machine."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def ensure_ray(address: str | None = None, num_cpus: int | None = None,
               quiet: bool = True, placement: str = "auto",
               scalable_kinds: list[str] | tuple[str, ...] = ()) -> None:
    """Connect to ``address`` ("auto", "ray://…", "host:port"), or start a local Ray, and
    set how stages are placed on it (``proda_ray.executors.placement``).

    Does not start another if Ray is already initialized (tests share one per session).
    """
    import ray

    from proda_ray.executors import placement as _placement

    _placement.configure(placement, scalable_kinds)
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
