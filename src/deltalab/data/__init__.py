"""Embedded data sets, all generated or shipped offline.

``load(name)`` returns a :class:`Split` for the names ``deltalab train --data`` takes: ``digits``,
``mnist1d``, ``moons``, ``circles``, ``swiss-roll``, ``ring``. The sequence tasks are generators
in :mod:`deltalab.data.seq`.
"""

from deltalab.data.base import DATASETS, Split, load
from deltalab.data.digits import load_digits
from deltalab.data.mnist1d import load_mnist1d

__all__ = ["DATASETS", "Split", "load", "load_digits", "load_mnist1d"]
