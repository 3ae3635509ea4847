"""The workspace: one project's tables, manifests and caches on any filesystem."""

from proda_ray.workspace.fingerprint import fingerprint, source_fingerprint
from proda_ray.workspace.manifest import StageManifest, TableInfo
from proda_ray.workspace.runner import StageRun, run_stage, stage_status
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageResult
from proda_ray.workspace.storage import Workspace

__all__ = [
    "Resources",
    "Stage",
    "StageContext",
    "StageManifest",
    "StageResult",
    "StageRun",
    "TableInfo",
    "Workspace",
    "fingerprint",
    "run_stage",
    "source_fingerprint",
    "stage_status",
]
