"""The base of every config section: unknown keys are errors, not silently ignored.

A misspelt key in ``proda.yaml`` (``max_tokenz``) or a ``--set`` of a field that does not
exist would otherwise validate, run with the default, and be written to the manifest as if
it had been honoured. ``ProjectConfig.load`` turns the error into one line naming the key, the
file and the nearest known field.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ConfigModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
