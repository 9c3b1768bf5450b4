"""The one coordinator runtime that msglib's coordinators are built on (docs/coordinator-runtime.md).

See :mod:`msglib.coordinator.runtime`: :class:`CoordinatorRuntime` (compacted state log, persist-then-reply
writes, load by replay, keyed timers, the event record), the :class:`CoordinatorShard` protocol (``replay``,
``reset``) and :class:`CoordinatorNode` (a simulated node wired to a runtime).
"""
from msglib.coordinator.runtime import (CompositeShard, CoordinatorNode, CoordinatorResult, CoordinatorRuntime, CoordinatorShard,
                                        encode_key, encode_value)

__all__ = ["CompositeShard", "CoordinatorNode", "CoordinatorResult", "CoordinatorRuntime", "CoordinatorShard", "encode_key",
           "encode_value"]
