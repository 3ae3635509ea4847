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
        _loopback_only(False)  # a driver on a cluster node needs that node's real address
        ray.init(address=address, **kwargs)
    else:
        _loopback_only()
        # Ray kills a worker process idle for 1 s once there are more than CPUs; the task
        # workers of one phase then sit idle through the actor phase that follows, and the
        # next task phase pays their start again (1.2 s of spec's 1.4 s finalize on
        # OpenStax). A local Ray keeps them 30 s (their memory with them).
        os.environ.setdefault("RAY_idle_worker_killing_time_threshold_ms", "30000")
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, **kwargs)
    log.info("ray: %s", ray.cluster_resources())


_CLUSTER_DEFAULT: bool | None = None


def _loopback_only(on: bool = True) -> None:
    """Make the local Ray's node address 127.0.0.1, so its GCS, raylet, object manager,
    workers and agents listen on loopback only (Ray's own local-only mode, the default on
    macOS and Windows: ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``); nothing of a laptop run is
    reachable from the network. ``PRODA_RAY_LOOPBACK=0`` keeps Ray's Linux default (every
    interface), for a node other machines must join. A real cluster is started by
    ``ray start``/KubeRay with its node IP and attached with ``--address``; this does not
    apply there."""
    global _CLUSTER_DEFAULT
    from ray._private import ray_constants  # read by services.get_node_ip_address()

    if _CLUSTER_DEFAULT is None:
        _CLUSTER_DEFAULT = ray_constants.ENABLE_RAY_CLUSTER
    local = on and os.environ.get("PRODA_RAY_LOOPBACK", "1") != "0"
    ray_constants.ENABLE_RAY_CLUSTER = _CLUSTER_DEFAULT and not local
