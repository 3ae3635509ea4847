"""LLM engines: one interface, several backends chosen by config (DESIGN §4).

``build_engine(config)`` returns an ``Engine``; ``CachedEngine`` puts the persistent response
cache and usage accounting in front of any of them; ``generate_json`` adds parsing, schema
validation and retries for structured output.
"""

from proda_ray.engines.base import (
    Engine,
    EngineConfig,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    ScoringRequest,
    Usage,
    build_engine,
)
from proda_ray.engines.cache import CachedEngine, ResponseCache
from proda_ray.engines.structured import JsonResult, generate_json

__all__ = [
    "CachedEngine",
    "Engine",
    "EngineConfig",
    "GenerationRequest",
    "GenerationResult",
    "JsonResult",
    "ResponseCache",
    "SamplingParams",
    "ScoringRequest",
    "Usage",
    "build_engine",
    "generate_json",
]
