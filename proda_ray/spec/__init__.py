"""The corpus ("spec") stage: raw files -> clean, deduplicated, discipline-tagged chunks."""
