"""Reporting: the summary's sections, the claim texts, and one module per figure."""
