"""Seams: where each exercise's answer plugs into msglib, what msglib puts there itself, and the check.

An exercise is a function (or a class) that msglib runs through a *seam*: an ordinary parameter of the
mechanism, whose default is msglib's own implementation. :data:`SEAMS` has one :class:`Seam` per
autograded exercise:

* ``kind`` -- how the mechanism takes it: ``policy`` (a field of the package's ``Policies``, whose
  defaults live in that package's ``policies.py``: ``msglib.cluster.policies``); ``setting`` (a
  ``KafkaConsumer`` setting; its defaults are in ``msglib.client.policies``); ``keyword`` (a keyword
  argument of a mechanism or a runner; the consumer-group ones default to ``msglib.groups.policies``);
  ``class`` (a class msglib instantiates); ``judged`` (no seam: the check calls the answer on cases and
  compares it with msglib's model);
* ``where`` -- the call that hands the answer (``fn``) to the mechanism, as a learner would write it;
* ``default`` -- ``"module:qualname"`` of msglib's own implementation for that place;
* ``check`` -- ``"module:check_<name>"``; the hidden check is ``hidden_<name>`` beside it.

``msglib.grading.delegation`` answers another question about the same exercises: which of msglib's
implementations an answer may not call (its *twins*). The two agree: a seam's default is one of the
exercise's twins, except where :data:`DEFAULT_IS_NOT_A_TWIN` says why not (tested).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

KINDS = ("policy", "setting", "keyword", "class", "judged")


@dataclass(frozen=True)
class Seam:
    exercise: str
    kind: str
    where: str
    default: str
    check: str

    @property
    def hidden(self) -> str:
        module, _, name = self.check.partition(":")
        return f"{module}:hidden_{name.removeprefix('check_')}"


def resolve(target: str) -> Any:
    """The object ``"module:qualname"`` names (importing the module)."""
    module_name, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _s(exercise: str, kind: str, where: str, default: str, check: str) -> Seam:
    return Seam(exercise, kind, where, default, f"msglib.grading.{check}")


SEAMS: dict[str, Seam] = {s.exercise: s for s in [
    _s("00-call_chain", "keyword", "msglib.chain.simulate_rpc(config, seed, call_chain=fn)",
       "msglib.chain:call_chain", "ex00:check_call_chain"),
    _s("00-queue_handler", "keyword", "msglib.chain.simulate_queue(config, seed, handle=fn)",
       "msglib.chain:handle", "ex00:check_handle"),
    _s("01-topic_match", "keyword", "msglib.queue.Broker(topic_matcher=fn)",
       "msglib.queue.routing:topic_matches", "ex01:check_topic_match"),
    _s("01-dispatch", "keyword", "msglib.queue.Broker(dispatcher=fn)",
       "msglib.queue.dispatch:round_robin", "ex01:check_dispatch"),
    _s("01-idempotent_worker", "keyword", "msglib.queue.work.simulate_work_queue(config, seed, handle=fn)",
       "msglib.queue.work:handle", "ex01:check_idempotent_worker"),
    _s("01-group_queue", "keyword", "msglib.queue.work.simulate_groups(groups, n, seed, group_queue=fn)",
       "msglib.queue.work:group_queue", "ex01:check_group_queue"),
    _s("02-sparse_index_lookup", "keyword", "msglib.log.Log(path, index_lookup=fn)",
       "msglib.log.segment:floor_lookup", "ex02:check_sparse_index_lookup"),
    _s("02-choose_segment", "keyword", "msglib.log.Log(path, segment_chooser=fn)",
       "msglib.log.log:choose_segment", "ex02:check_choose_segment"),
    _s("02-retention", "keyword", "msglib.log.Log(path, retention_rule=fn)",
       "msglib.log.retention:deletable_segments", "ex02:check_retention"),
    _s("02-compaction_rule", "keyword", "msglib.log.Log(path, compaction_rule=fn)",
       "msglib.log.cleaner:should_retain", "ex02:check_compaction_rule"),
    _s("02-sticky_partitioner", "keyword", "msglib.log.BuiltInPartitioner(seed, batch_size, update=fn)",
       "msglib.log.partitioner:update_sticky", "ex02_partitioner:check_sticky_partitioner"),
    _s("03-sequence_check", "policy", "msglib.cluster.Policies(check_sequence=fn)",
       "msglib.cluster.policies:check_sequence", "ex03:check_sequence_check"),
    _s("04-vote", "keyword", "msglib.kraft.Policies(grant_vote=fn)",
       "msglib.kraft.policies:grant_vote", "ex04:check_vote"),
    _s("04-isr", "policy", "msglib.cluster.Policies(update_isr=fn)",
       "msglib.cluster.policies:update_isr", "ex04:check_isr"),
    _s("04-elect_leader", "policy", "msglib.cluster.Policies(elect_leader=fn)",
       "msglib.cluster.policies:elect_leader", "ex04:check_elect_leader"),
    _s("04-truncation", "policy", "msglib.cluster.Policies(truncation_offset=fn)",
       "msglib.cluster.policies:truncation_offset", "ex04:check_truncation"),
    _s("05-range_assign", "keyword", "msglib.groups.FunctionAssignor('range', fn)",
       "msglib.groups.assignors:range_assign", "ex05:check_range_assign"),
    _s("05-starting_offset", "setting", "KafkaConsumer(..., reset_position=fn)",
       "msglib.client.policies:starting_offset", "ex05:check_starting_offset"),
    _s("05-at_least_once", "keyword", "msglib.groups.workload.run_group(seed, step=fn)",
       "msglib.groups.workload:at_least_once_step", "ex05:check_at_least_once"),
    _s("05-reconcile", "keyword", "msglib.groups.LocalBroker(reconcile=fn)",
       "msglib.groups.reconciliation:reconcile", "ex05_reconcile:check_reconcile"),
    _s("05-cooperative_sticky", "keyword", "msglib.groups.CooperativeStickyAssignor(assign=fn)",
       "msglib.groups.policies:cooperative_sticky_assign", "ex05_cooperative:check_cooperative_sticky"),
    _s("06-last_stable_offset", "policy", "msglib.cluster.Policies(last_stable_offset=fn)",
       "msglib.cluster.policies:last_stable_offset", "ex06:check_last_stable_offset"),
    _s("06-filter_aborted", "setting", "KafkaConsumer(..., isolation_level='read_committed', aborted_filter=fn)",
       "msglib.client.policies:filter_aborted", "ex06:check_filter_aborted"),
    _s("06-eos_step", "keyword", "msglib.txn.eos.run_eos(seed, step=fn)",
       "msglib.txn.eos:eos_step", "ex06:check_eos_step"),
    _s("06-idempotent_handle", "keyword", "msglib.patterns.IdempotentConsumer(topic, db_path, consumer_id, fn)",
       "msglib.patterns.idempotent:idempotent", "ex06_patterns:check_idempotent_handle"),
    _s("06-outbox_relay", "keyword", "msglib.patterns.OutboxRelay(db_path, topic, relay_once=fn)",
       "msglib.patterns.outbox:relay_once", "ex06_patterns:check_outbox_relay"),
    _s("07-apply", "class", "class LearnerAccount(BankAccount): apply = fn",
       "msglib.es.aggregate:Aggregate.apply", "ex07:check_apply"),
    _s("07-append_retry", "judged", "append_with_retry(store, stream, decide, max_attempts) while a rival writes",
       "msglib.cqrs.commands:append_with_retry", "ex07:check_append_retry"),
    _s("07-upcaster", "keyword", "EventStore.register_upcaster(event_type, 1, fn)",
       "msglib.grading.ex07:_reference_upcast", "ex07:check_upcaster"),
    _s("07-saga", "keyword", "msglib.patterns.saga.TransferSagas(store, next_step=fn)",
       "msglib.patterns.saga:next_step", "ex07:check_saga"),
    _s("08-handlers", "class", "a UserStats projection whose handle is fn",
       "msglib.cqrs.read_models:UserStats", "ex08:check_handlers"),
    _s("08-process_batch", "keyword", "msglib.cqrs.projection.ProjectionRunner(..., process_batch=fn)",
       "msglib.cqrs.projection:process_batch", "ex08:check_process_batch"),
    _s("08-wait_for", "judged", "wait_for(read_checkpoint, position, timeout, clock, sleep) on a fake clock",
       "msglib.cqrs.projection:wait_for_position", "ex08:check_wait_for"),
    _s("09-classify", "keyword", "msglib.dlq.RetryProcessor(sim, handler, classifier=fn)",
       "msglib.dlq.classify:is_transient", "ex09:check_classify"),
    _s("09-backoff", "keyword", "msglib.dlq.RetryProcessor(sim, handler, backoff=fn)",
       "msglib.dlq.backoff:full_jitter", "ex09:check_backoff"),
    _s("09-retry_router", "keyword", "msglib.dlq.retry_topics.RetryTopicPipeline(..., router=fn)",
       "msglib.dlq.retry_topics:route_failure", "ex09:check_retry_router"),
    _s("09-redrive", "keyword", "SqsQueue.start_message_move_task(destination, mover=fn)",
       "msglib.queue.sqs:move_messages", "ex09:check_redrive"),
    _s("09-share_transition", "keyword", "msglib.share.partition.SharePartition(sim, log_end, transition=fn)",
       "msglib.share.policies:transition", "ex09_share:check_share_transition"),
    _s("10-key_dispatch", "keyword", "msglib.compare.run('pulsar', workload, key_dispatcher=fn)",
       "msglib.compare.pulsar:hash_range_dispatch", "ex10:check_key_dispatch"),
    _s("10-choose_broker", "judged", "choose_broker(requirements) against what the models measure",
       "msglib.compare.scenarios:fitting_models", "ex10:check_choose_broker"),
    _s("10-stored_bytes", "judged", "stored_bytes(broker, published, consumed, message_bytes) against runs",
       "msglib.compare.scenarios:storage_snapshot", "ex10:check_stored_bytes"),
    _s("11-route", "keyword", "msglib.capstone.run_notifications(seed, route=fn)",
       "msglib.capstone.router:route", "ex11:check_route"),
    _s("11-token_bucket", "class", "msglib.capstone.run_notifications(seed, bucket=TokenBucket)",
       "msglib.capstone.ratelimit:TokenBucket", "ex11:check_token_bucket"),
    _s("11-handle", "keyword", "msglib.capstone.run_notifications(seed, handle=fn)",
       "msglib.capstone.worker:handle", "ex11:check_handle"),
    _s("11-runbook", "keyword", "msglib.capstone.run_notifications(seed, runbook=fn)",
       "msglib.capstone.system:redrive_when_healthy", "ex11:check_runbook"),
    _s("11-design", "judged", "msglib.capstone.design.evaluate(fn(), seed) against design.THRESHOLDS",
       "msglib.capstone.design:design", "ex11_design:check_design"),
    _s("12-windows", "keyword", "grouped.windowed_by(TimeWindows(size, grace), windows_fn=fn)",
       "msglib.streams.windows:windows_to_update", "ex12:check_windows"),
    _s("12-restore", "keyword", "msglib.streams.app.run_streams(topology, inputs, restore=fn)",
       "msglib.streams.stores:restore_from_changelog", "ex12:check_restore"),
    _s("12-table_version", "keyword", "builder.table(topic, versioned=True, lookup=fn)",
       "msglib.streams.stores:value_as_of", "ex12:check_table_version"),
    _s("12-eos_commit", "keyword", "msglib.streams.app.run_streams(topology, inputs, commit=fn)",
       "msglib.streams.app:exactly_once_commit", "ex12:check_eos_commit"),
]}

# Where msglib's default at the seam is not the implementation an answer must not call, and why.
DEFAULT_IS_NOT_A_TWIN: dict[str, str] = {
    "10-key_dispatch": "the Pulsar model dispatches by hash ranges by default; the answer's twin is msglib's "
                       "sticky-key dispatcher (msglib.compare.pulsar:sticky_key_dispatch)",
}

__all__ = ["Seam", "SEAMS", "KINDS", "DEFAULT_IS_NOT_A_TWIN", "resolve"]
