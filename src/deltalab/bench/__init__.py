"""``deltalab bench``: speed as side-by-side ratios measured in one process.

Modules in this package register benchmarks with ``@benchmark``; see :mod:`deltalab.bench.core`.
"""

from deltalab.bench.core import BENCHMARKS, BenchResult, benchmark, run_benchmarks, time_pair

__all__ = ["BENCHMARKS", "BenchResult", "benchmark", "run_benchmarks", "time_pair"]
