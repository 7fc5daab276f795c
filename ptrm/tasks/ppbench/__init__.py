"""Pencil Puzzle Bench (PPBench): boards, tokens, rules, the golden set and generators."""
