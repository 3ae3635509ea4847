"""The Tester: a benchmark compiled from L3 reasoning chains before any training."""
