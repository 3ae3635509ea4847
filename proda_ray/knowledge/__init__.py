"""The knowledge core: L3 reasoning chains, L2 grounded statements, L1 canonical concepts."""
