"""Training: settings, optimiser and schedule, batches, the graduation rule, progress measures, checkpoints, the loop."""
