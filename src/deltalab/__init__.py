"""deltalab: deep learning from the delta rule to diffusion, as a PyTorch library and a lab.

Import the parts (``deltalab.nn``, ``deltalab.optim``, ...) or run the claims
(``deltalab.lab.run(["ce-vs-mse"])``; ``deltalab run`` on the command line).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Run experiments by id; see :func:`deltalab.lab.runner.run`."""
    from deltalab.lab.runner import run as _run

    return _run(*args, **kwargs)


def train(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Train a registered model on a registered data set; see :func:`deltalab.train.api.train`."""
    from deltalab.train.api import train as _train

    return _train(*args, **kwargs)
