"""A simulated Kafka cluster: brokers, a KRaft controller quorum, replication by follower fetch.

Read in this order: ``protocol.py`` (the messages), ``policies.py`` (the five
decisions: HW, ISR, election, truncation, sequence check), ``partition.py``
(one replica), ``broker.py`` (a broker's reactions), ``kraft_controller.py``
(leadership and ISR as records of the KRaft metadata log; ``controller.py`` is the
older single controller node, ``ClusterConfig(controller="single_node")``),
``cluster.py`` (all of it together), ``scenario.py`` (a seeded run with faults, checked).
"""
from msglib.cluster.cluster import Cluster
from msglib.cluster.config import ClusterConfig
from msglib.cluster.policies import Policies
from msglib.protocol import PartitionState, TopicPartition

__all__ = ["Cluster", "ClusterConfig", "Policies", "PartitionState", "TopicPartition"]
