"""Data: the formats a problem is written in, and the curriculum's splits (train, pools, test, commute, length)."""
