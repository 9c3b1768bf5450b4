"""Do the replicas of a partition agree? ``Divergence`` and ``divergences`` live in
``msglib.cluster.divergence`` (the cluster reports them itself, and a mechanism imports no checker);
this module keeps the checker's import path."""
from msglib.cluster.divergence import Divergence, Entry, divergences

__all__ = ["Divergence", "Entry", "divergences"]
