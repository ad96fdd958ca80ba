"""Figures: pure functions from results to matplotlib `Figure` objects.

This package is the only one that imports matplotlib. Its functions never run a
simulation, never call ``plt.show()`` and never change global rcParams; they take result
objects (or their folders) and return a `Figure`, and `figure_bytes` renders one to PNG
or SVG. `axes` holds what every figure shares (time axes, numbered policy markers, the
mobilization line), `reported` draws reported figures and the simulated curve of the
same quantity, and `run`, `fit`, `posterior`, `sensitivity` and `compare` hold the figures
of each command.
"""

from flowsim.plotting.axes import figure_bytes, policy_events, save_figure, scenario_label
from flowsim.plotting.compare import comparison_daily_figure, difference_figure, queue_figure
from flowsim.plotting.fit import fit_figure
from flowsim.plotting.posterior import posterior_figures, sbc_figure
from flowsim.plotting.run import checkpoint_queue_figure, daily_metric_figure, run_figures
from flowsim.plotting.sensitivity import sensitivity_figure

__all__ = [
    "checkpoint_queue_figure",
    "comparison_daily_figure",
    "daily_metric_figure",
    "difference_figure",
    "figure_bytes",
    "fit_figure",
    "policy_events",
    "posterior_figures",
    "queue_figure",
    "run_figures",
    "save_figure",
    "sbc_figure",
    "scenario_label",
    "sensitivity_figure",
]
