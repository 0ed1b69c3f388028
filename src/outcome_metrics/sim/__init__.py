"""Simulated AI interaction events with planted truths, for the demo, the tests and the benchmark."""

from outcome_metrics.sim.generator import DEFAULT_START, Simulation, simulate

__all__ = ["DEFAULT_START", "Simulation", "simulate"]
