"""Experiments, one module per chapter or claim; each registers with ``@experiment``."""
