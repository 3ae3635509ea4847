"""The workspace: one project's tables, manifests and caches on any filesystem."""

from proda_ray.workspace.fingerprint import closure_fingerprint, fingerprint, source_fingerprint
from proda_ray.workspace.manifest import StageManifest, TableInfo
from proda_ray.workspace.rejections import Rejection, rejected_table
from proda_ray.workspace.runner import StageRun, run_stage, stage_status
from proda_ray.workspace.stage import Resources, Stage, StageContext, StageFiles, StageResult
from proda_ray.workspace.storage import Workspace
from proda_ray.workspace.tally import Tally

__all__ = [
    "Rejection",
    "Resources",
    "Stage",
    "StageContext",
    "StageFiles",
    "StageManifest",
    "StageResult",
    "StageRun",
    "TableInfo",
    "Tally",
    "Workspace",
    "closure_fingerprint",
    "fingerprint",
    "rejected_table",
    "run_stage",
    "source_fingerprint",
    "stage_status",
]
