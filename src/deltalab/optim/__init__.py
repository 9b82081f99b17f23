"""Optimizers: torch's own by name, plus the ones torch lacks (written in this package).

``create_optimizer("adamw", params, lr=1e-3)`` builds any registered optimizer; modules in this
package register theirs with ``@OPTIMIZERS.register``.
"""

from deltalab.optim.registry import OPTIMIZERS, create_optimizer

__all__ = ["OPTIMIZERS", "create_optimizer"]
