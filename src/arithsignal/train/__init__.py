"""Training: settings, optimiser and schedule, batches, the graduation rule, progress measures, checkpoints and stop
signals, the loop."""
