"""Deterministic simulation: a seeded clock and event queue (more parts build on it)."""
from msglib.sim.core import Simulation, Timer

__all__ = ["Simulation", "Timer"]
