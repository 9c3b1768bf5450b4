"""msglib.capstone -- a notification system (push, email, SMS) built from msglib's parts, run under faults.

Read it in this order:

* ``events.py``    -- events, event types, user preferences, seeded workloads
* ``router.py``    -- who gets notified on which channel (preferences, quiet hours, fan-out)
* ``templates.py`` -- the words, per event type, channel and language
* ``ratelimit.py`` -- token buckets per (user, channel), and the properties a limiter must have
* ``providers.py`` -- simulated push, email and SMS providers that fail like real ones
* ``worker.py``    -- one notification job, and the channel worker's handler
* ``apps.py``      -- routers and channel workers: consumers in their groups
* ``faults.py``    -- crashes, outages, stalls, on simulated time
* ``system.py``    -- the whole system, its driver loop, the operator's runbook
* ``metrics.py``   -- delivered, duplicates, dropped, rate-limited, dead-lettered, latency

:func:`msglib.check.notifications.check_notifications` judges a run's history.
"""
from msglib.capstone.events import (CHANNELS, EMAIL, EVENT_TYPES, PUSH, SMS, Event, EventType, Preferences, Workload,
                                    make_workload)
from msglib.capstone.faults import ProviderOutage, RouterCrash, SlowConsumer, WorkerCrash, random_faults, schedule
from msglib.capstone.ratelimit import RateLimiter, TokenBucket
from msglib.capstone.router import in_quiet_hours, local_hour, route
from msglib.capstone.system import (NotificationSystem, Operations, RunResult, SystemConfig, redrive_when_healthy,
                                    run_notifications)
from msglib.capstone.templates import TemplateError, render
from msglib.capstone.worker import DeliveryStore, Notification, WorkerCrashed, handle

__all__ = [
    "CHANNELS", "EMAIL", "EVENT_TYPES", "PUSH", "SMS", "Event", "EventType", "Preferences", "Workload",
    "make_workload", "ProviderOutage", "RouterCrash", "SlowConsumer", "WorkerCrash", "random_faults", "schedule",
    "RateLimiter", "TokenBucket", "in_quiet_hours", "local_hour", "route", "NotificationSystem", "Operations",
    "RunResult", "SystemConfig", "redrive_when_healthy", "run_notifications", "TemplateError", "render",
    "DeliveryStore", "Notification", "WorkerCrashed", "handle",
]
