"""The Builder: SFT data synthesized from L1 concepts and L2 statements only."""
