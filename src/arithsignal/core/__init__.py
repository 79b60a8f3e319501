"""Shared plumbing: Parquet files with provenance, atomic writes, hashes, and the CPU numerics every job pins."""
