"""msglib.compare: Kafka vs RabbitMQ vs SQS vs Pulsar, made measurable.

One seeded workload (``workload.py``) is driven through four models, and the
same metrics come out of each (``metrics.py``): messages delivered and missing,
duplicates, order violations per key, whether a late subscriber can replay
history, end-to-end latency percentiles in simulated ms, and the message
copies the broker stores.

* ``kafka.py``    -- a partitioned log (``msglib.log.Topic``) read by consumer groups;
                     ``kafka-share``: the log read by a share group (KIP-932, Kafka 4.2)
* ``rabbitmq.py`` -- a topic exchange and a queue per subscriber (``msglib.queue.Broker``);
                     ``rabbitmq-stream``: streams (RabbitMQ 3.9+), a log bound to the exchange
* ``sqs.py``      -- a fan-out to visibility-timeout queues (``msglib.queue.SqsQueue``);
                     ``sqs-fifo``: FIFO queues, one message group at a time, in order
* ``pulsar.py``   -- a small *teaching model* of Pulsar: brokers that serve, bookies that
                     store, and subscriptions that give log or queue semantics on the same data
* ``harness.py``  -- the runner the four share: consumers, crashes, a broker node's capacity
* ``scenarios.py`` -- one experiment per row of the classic comparison table, and the table

Quick start::

    from msglib.compare import Workload, Subscriber, run, compare, scorecard
    w = Workload(n_messages=300, subscribers=(Subscriber("billing", consumers=3),), crash_prob=0.02)
    run("rabbitmq", w, seed=1).order_violations    # competing consumers: some keys out of order
    print(compare(w, seed=1))                      # the same workload on all four models
    print(scorecard(seed=0))                       # every row of the classic table, modelled
"""
from msglib.compare.harness import MODELS, BrokerModel, Intake, Run, Worker, register, run
from msglib.compare.metrics import Recorder, Report, SubscriberStats, percentile
from msglib.compare.workload import DAY, HOUR, MINUTE, SECOND, Behaviour, Message, Subscriber, Workload, matching
from msglib.compare.scenarios import (CONFIGURATIONS, MODEL_NAMES, Requirements, Table, compare, fit,
                                      fitting_configuration, fitting_models, scorecard)

__all__ = ["MODELS", "BrokerModel", "Intake", "Run", "Worker", "register", "run", "Recorder", "Report",
           "SubscriberStats", "percentile", "DAY", "HOUR", "MINUTE", "SECOND", "Behaviour", "Message", "Subscriber",
           "Workload", "matching", "CONFIGURATIONS", "MODEL_NAMES", "Requirements", "Table", "compare", "fit",
           "fitting_configuration", "fitting_models", "scorecard"]
