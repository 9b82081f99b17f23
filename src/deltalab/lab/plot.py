"""matplotlib on the Agg backend (no screen needed): ``from deltalab.lab.plot import plt``."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt"]
