"""proda-ray: test-driven data engineering for domain LLMs, on Ray."""

__version__ = "0.1.0"
