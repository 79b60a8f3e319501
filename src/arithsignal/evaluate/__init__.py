"""Evaluation of a trained run on held-out problems: the test split, unseen operand orders, the length split."""
