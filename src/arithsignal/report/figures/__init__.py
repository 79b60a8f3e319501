"""One module per figure, each with its drawing function and the job entry point its rule runs (``plot_*``):
ablation, progress, failures, sweep, scaling, minimal, length. A figure's rule declares only its own module (with
what that imports: ``report.style`` and the analysis it reads), so editing one figure reruns only its jobs.

This ``__init__`` imports nothing: every figure's code inputs include it (core/imports.py), so an import here would
make each figure depend on the others."""
