"""The lab: register experiments, run them, report measured verdicts."""

from deltalab.lab.experiment import CHAPTERS, EXPERIMENTS, Context, ExperimentSpec, experiment
from deltalab.lab.result import Bar, Result
from deltalab.lab.runner import exit_code, run, select
from deltalab.registry import Registry, UnknownNameError

__all__ = [
    "CHAPTERS",
    "EXPERIMENTS",
    "Bar",
    "Context",
    "ExperimentSpec",
    "Registry",
    "Result",
    "UnknownNameError",
    "exit_code",
    "experiment",
    "run",
    "select",
]
