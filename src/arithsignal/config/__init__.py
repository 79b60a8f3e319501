"""The experiment's config: variants and their effective settings, the checks beyond the schema, the reference."""
