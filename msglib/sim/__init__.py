"""Deterministic simulation: a seeded clock and event queue, a network of nodes,
faults, and histories of what happened.

Why a small scheduler of our own rather than SimPy: msglib needs (1) one seed
to fix *every* random choice, with independent named streams so adding a
source of randomness does not shift the others; (2) callbacks rather than
generator processes, so a broker reads like ordinary request-handling code;
(3) a tiny hot path (a heap push and pop per event), because the course's
tables run hundreds of seeded clusters in seconds; (4) nothing a learner must
study before reading the broker. SimPy's process/yield model is good for
queueing models, but brings none of (1) and adds a layer between the learner
and the mechanism. The whole scheduler is ``core.py``: read it in a minute.
"""
from msglib.sim.core import Simulation, Timer
from msglib.sim.faults import (Crash, Cut, Fault, FaultSchedule, Heal, HealAll, Partition, Pause,
                               Restart, Resume, Slow, apply_fault, random_schedule)
from msglib.sim.history import History, Op
from msglib.sim.network import Network, Node

__all__ = [
    "Simulation", "Timer", "Network", "Node", "History", "Op",
    "Fault", "Crash", "Restart", "Cut", "Heal", "Partition", "HealAll", "Pause", "Resume", "Slow",
    "FaultSchedule", "apply_fault", "random_schedule",
]
