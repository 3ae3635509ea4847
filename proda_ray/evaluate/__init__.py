"""Test: batch answering, answer extraction, scoring, per-node tables, round comparison."""
