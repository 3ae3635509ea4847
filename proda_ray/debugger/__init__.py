"""Debug: failure attribution, probing, grounded patches, the next dataset."""
