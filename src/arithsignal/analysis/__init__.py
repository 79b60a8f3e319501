"""Analysis: outcomes per run, exploratory statistics, survival fits, the confirmatory family,
power, scaling, length."""
