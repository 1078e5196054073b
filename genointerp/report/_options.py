"""Defaults of the report, in a module light enough for the command line to import."""

N_FEATURES = 30
"""Known and candidate-novel features listed with their evidence, each."""
