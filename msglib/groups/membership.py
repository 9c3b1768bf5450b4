"""The consumer's half of the group protocol (kafka-python's ``ConsumerCoordinator``).

Two "threads", as in the real clients:

* the **application thread** -- whatever calls ``consumer.poll()``. Joining,
  syncing, revoking and assigning partitions happen here (inside
  :meth:`ConsumerCoordinator.poll`), so a rebalance listener may call the
  blocking ``consumer.commit()``;
* the **heartbeat thread** -- a timer on the consumer's node, every
  ``heartbeat_interval_ms``. It keeps the session alive while the application
  processes records, learns that a rebalance started (``REBALANCE_IN_PROGRESS``:
  rejoin at the next poll), and leaves the group when the application has
  not polled for ``max_poll_interval_ms``.

Responses from the coordinator arrive on the network thread. As in kafka-python 3.x, whose
join-and-sync task runs on its background IO thread (``kafka/coordinator/base.py``,
``_do_join_and_sync_async``), a successful JoinGroup answer is acted on at once: the leader runs the
assignor and the member sends SyncGroup without waiting for its application to poll. The SyncGroup
answer, like kafka-python's ``join_group_async``, is taken in the application thread's next poll:
the member becomes stable, heartbeats restart, partitions are revoked and assigned, the rebalance
listener runs, errors are raised. So two consumers polled in turn settle: a member whose JoinGroup
completes while the *other* one polls no longer waits for its own poll to send SyncGroup (and miss
its session timeout meanwhile).

A rebalance, eager (range, roundrobin, sticky)::

    on_join_prepare: commit (auto-commit), revoke ALL partitions -> JoinGroup -> [leader: assign]
    -> SyncGroup -> on_join_complete: the new partitions (nothing is consumed in between)

and cooperative (cooperative-sticky): members keep their partitions through
the rebalance and revoke only those missing from the new assignment, then
rejoin at once so a second rebalance hands those to their new owners.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable

from msglib import protocol as p
from msglib.groups import errors as E
from msglib.groups.assignors import COOPERATIVE, EAGER, PartitionAssignor
from msglib.protocol import Subscription, TopicPartition

if TYPE_CHECKING:  # pragma: no cover  (types only: msglib.client imports the consumer, which imports this module)
    from msglib.client.network_client import NetworkClient
    from msglib.client.subscription_state import SubscriptionState

UNJOINED, REBALANCING, STABLE = "UNJOINED", "REBALANCING", "STABLE"


class ConsumerCoordinator:
    """One consumer's membership of its group, and its offset commits and fetches.

    It shares the consumer's :class:`NetworkClient` (requests, waking ``poll``) and
    :class:`SubscriptionState` (the subscription; the assignment it changes at each rebalance).
    From the consumer it needs two things more, given as functions: ``partition_counts(topics)``
    (metadata, for the leader's assignor) and ``commit_before_rebalance(partitions or None)``
    (the auto-commit that runs before partitions are given up).
    """

    def __init__(self, client: "NetworkClient", subscriptions: "SubscriptionState", config: dict[str, Any],
                 coordinator: str, assignors: list[PartitionAssignor], *,
                 partition_counts: Callable[[Iterable[str]], dict[str, int] | None],
                 commit_before_rebalance: Callable[[list[TopicPartition] | None], None]) -> None:
        self.client = client
        self.subscriptions = subscriptions
        self.partition_counts = partition_counts
        self.commit_before_rebalance = commit_before_rebalance
        self.node = client.node
        self.sim = client.sim
        self.coordinator = coordinator
        c = config
        self.group_id: str = c["group_id"]
        self.group_instance_id: str | None = c["group_instance_id"]
        self.session_timeout_ms: float = c["session_timeout_ms"]
        self.heartbeat_interval_ms: float = c["heartbeat_interval_ms"]
        self.max_poll_interval_ms: float = c["max_poll_interval_ms"]
        self.request_timeout_ms: float = c["request_timeout_ms"]
        self.retry_backoff_ms: float = c["retry_backoff_ms"]
        self.assignors = assignors
        # The protocol the consumer can follow: cooperative only if every configured assignor can.
        self.rebalance_protocol = COOPERATIVE if assignors and all(
            COOPERATIVE in a.rebalance_protocols for a in assignors) else EAGER
        self.member_id = p.NO_MEMBER_ID
        self.generation = p.NO_GENERATION
        self.protocol: str | None = None
        self.leader_id = ""
        self.state = UNJOINED
        self.need_rejoin = True
        self.rejoin_reason = "first join"
        self._join_sent = False
        self._sync_sent = False
        self._join_response: p.JoinGroupResponse | None = None
        self._sync_response: p.SyncGroupResponse | None = None
        self._completing = False                             # JoinGroup answered, SyncGroup on its way
        self._new_assignment: list[TopicPartition] | None = None   # synced, not yet applied by poll()
        self._pending: dict[int, tuple[str, Any]] = {}   # request id -> (kind, extra)
        self._retry_at = 0.0
        self._heartbeat_out = False
        self._heartbeat_timer = None
        self._owned_claim: tuple[TopicPartition, ...] = ()
        self.last_poll = self.sim.now
        self.rebalances = 0                                  # completed joins (a statistic)
        self.events: list[tuple[float, str]] = []            # what happened, for pictures and debugging

    # ------------------------------------------------------------------ state
    @property
    def active(self) -> bool:
        return self.state == STABLE and not self.need_rejoin

    def _log(self, what: str) -> None:
        self.events.append((self.sim.now, what))

    def request_rejoin(self, reason: str) -> None:
        if not self.need_rejoin:
            self._log(f"rejoin needed: {reason}")
        self.need_rejoin = True
        self.rejoin_reason = reason

    def reset_generation(self, reset_member_id: bool, reason: str) -> None:
        """The coordinator no longer knows us in this generation: our partitions are lost."""
        self.generation = p.NO_GENERATION
        if reset_member_id:
            self.member_id = p.NO_MEMBER_ID
        self.state = UNJOINED
        self._completing = False
        self._new_assignment = None     # synced for a generation that is gone: never applied
        self.request_rejoin(reason)

    # ------------------------------------------------------------------ sending
    def _send(self, kind: str, msg: Any, timeout_ms: float | None = None, extra: Any = None) -> None:
        self._pending[msg.request_id] = (kind, extra)
        self.node.send(self.coordinator, msg)
        self.node.after(timeout_ms or self.request_timeout_ms, self._timeout, msg.request_id)

    def _timeout(self, request_id: int) -> None:
        entry = self._pending.pop(request_id, None)
        if entry is None:
            return
        kind, extra = entry
        self._log(f"{kind} timed out")
        if kind == "join":
            self._join_sent = False
            self._retry_at = self.sim.now + self.retry_backoff_ms
        elif kind == "sync":
            self._sync_sent = False
            self.request_rejoin("SyncGroup timed out")
        elif kind == "heartbeat":
            self._heartbeat_out = False
        elif kind in ("commit", "fetch_offsets"):
            extra(p.REQUEST_TIMED_OUT, None)
        self.client.wakeup()

    def next_id(self) -> int:
        return self.client.next_request_id()

    # ------------------------------------------------------------------ the application thread
    def poll(self) -> bool:
        """One step of group membership, from ``consumer.poll()``. True once the member is stable."""
        self.last_poll = self.sim.now
        if self.subscriptions.subscription is None:
            return True
        if self._join_response is not None:
            resp, self._join_response = self._join_response, None
            self._handle_join_response(resp)
        if self._sync_response is not None:
            resp, self._sync_response = self._sync_response, None
            self._handle_sync_response(resp)
        if self._new_assignment is not None:
            assignment, self._new_assignment = self._new_assignment, None
            self._on_join_complete(assignment, cooperative=self.rebalance_protocol == COOPERATIVE)
        if self.need_rejoin and not self._join_sent and not self._sync_sent and self.sim.now >= self._retry_at:
            self._join_prepare()
            self._send_join()
        return self.active

    def _join_prepare(self) -> None:
        """Before (re)joining: commit what was consumed, then give up partitions (eager) or keep them."""
        subs = self.subscriptions
        owned = sorted(subs.assignment)
        if self.generation != p.NO_GENERATION and owned:
            self.commit_before_rebalance(None)
        # What we tell the assignor we owned (sticky assignors keep partitions where they were).
        self._owned_claim = tuple(owned) if self.generation != p.NO_GENERATION else ()
        if self.generation == p.NO_GENERATION and owned:
            subs.lose(owned)              # the member lost its generation
        elif self.rebalance_protocol == EAGER and owned:
            subs.revoke(owned)
        else:
            gone = [tp for tp in owned if tp.topic not in (subs.subscription or ())]
            if gone:                      # cooperative: only partitions of topics we stopped following
                subs.revoke(gone)
                self._owned_claim = tuple(tp for tp in owned if tp not in gone)

    def _subscriptions(self) -> list[tuple[str, Subscription]]:
        sub = Subscription(tuple(self.subscriptions.subscription or ()), self._owned_claim, self.generation,
                           self.group_instance_id)
        return [(a.name, sub) for a in self.assignors]

    def _send_join(self) -> None:
        self.state = REBALANCING
        self._join_sent = True
        req = p.JoinGroupRequest(self.next_id(), self.group_id, self.member_id, self.group_instance_id,
                                 self.node.name, self.session_timeout_ms, self.max_poll_interval_ms, "consumer",
                                 self._subscriptions())
        self._log(f"JoinGroup ({self.rejoin_reason})")
        # The coordinator holds a JoinGroup until the rebalance completes: wait for that too.
        self._send("join", req, timeout_ms=self.max_poll_interval_ms + self.request_timeout_ms)

    def _handle_join_response(self, resp: p.JoinGroupResponse) -> None:
        self._join_sent = False
        if resp.error is not None:
            self._log(f"JoinGroup failed: {resp.error}")
            if resp.error in (p.INCONSISTENT_GROUP_PROTOCOL, p.FENCED_INSTANCE_ID, p.INVALID_SESSION_TIMEOUT):
                raise E.for_code(resp.error)
            if resp.error == p.UNKNOWN_MEMBER_ID:
                self.member_id = p.NO_MEMBER_ID
                self.generation = p.NO_GENERATION
            self._retry_at = self.sim.now + self.retry_backoff_ms
            return
        self.member_id, self.generation = resp.member_id, resp.generation_id
        self.protocol, self.leader_id = resp.protocol_name, resp.leader
        self._log(f"joined generation {self.generation} as {'leader' if self.is_leader else 'follower'}")
        assignments: dict[str, list[TopicPartition]] = {}
        if resp.members:
            assignments = self._assign(resp.members)
            if assignments is None:        # the leader waits for topic metadata: try again next poll
                self._join_response = resp
                self._join_sent = True
                self.client.wakeup_later(self.retry_backoff_ms)
                return
        self._sync_sent = True
        self._completing = True     # a running heartbeat thread goes on (a pending SyncGroup keeps us alive)
        self._send("sync", p.SyncGroupRequest(self.next_id(), self.group_id, self.generation, self.member_id,
                                              self.group_instance_id, assignments))

    @property
    def is_leader(self) -> bool:
        return bool(self.member_id) and self.member_id == self.leader_id

    def _assign(self, members: list[p.JoinMember]) -> dict[str, list[TopicPartition]] | None:
        """The leader's job: run the chosen assignor over every member's subscription."""
        assignor = next((a for a in self.assignors if a.name == self.protocol), None)
        if assignor is None:
            raise E.InconsistentGroupProtocolError(f"the group chose assignor {self.protocol!r}, which this "
                                                   "consumer does not have")
        subscriptions = {m.member_id: m.subscription for m in members}
        topics = sorted({t for s in subscriptions.values() for t in s.topics})
        counts = self.partition_counts(topics)
        if counts is None:
            return None
        assignment = assignor.assign(counts, subscriptions)
        out = {m: [TopicPartition(*tp) for tp in tps] for m, tps in assignment.items()}
        self._log(f"assigned with {assignor.name}: " +
                  ", ".join(f"{m}={[str(tp) for tp in sorted(tps)]}" for m, tps in sorted(out.items())))
        return out

    def _handle_sync_response(self, resp: p.SyncGroupResponse) -> None:
        self._sync_sent = False
        self._completing = False
        if resp.error is not None:
            self._log(f"SyncGroup failed: {resp.error}")
            if resp.error == p.FENCED_INSTANCE_ID:
                raise E.FencedInstanceIdError(resp.error)
            if resp.error == p.UNKNOWN_MEMBER_ID:
                self.reset_generation(True, "SyncGroup: unknown member")
            elif resp.error == p.ILLEGAL_GENERATION:
                self.reset_generation(False, "SyncGroup: illegal generation")
            else:
                self.request_rejoin(f"SyncGroup: {resp.error}")
            return
        self.state = STABLE
        self.need_rejoin = False
        self.rebalances += 1
        self._log(f"generation {self.generation}: assigned {[str(tp) for tp in resp.assignment]}")
        # Applied (partitions, listener) by the application thread's next poll().
        self._new_assignment = sorted(TopicPartition(*tp) for tp in resp.assignment)
        # Like Kafka's clients, restart the heartbeat clock when a rebalance completes.
        if self._heartbeat_timer is not None:
            self._heartbeat_timer.cancel()
        self._heartbeat_timer = self.node.after(self.heartbeat_interval_ms, self._heartbeat_tick)

    def _on_join_complete(self, assignment: list[TopicPartition], cooperative: bool) -> None:
        """The new assignment: eager members take it as it is; cooperative ones give up what moved
        elsewhere (committing first) and rejoin at once so its new owners get it."""
        subs = self.subscriptions
        owned = set(subs.assignment)
        if cooperative:
            revoked = sorted(owned - set(assignment))
            if revoked:
                self.commit_before_rebalance(revoked)
                subs.revoke(revoked)
                self.request_rejoin("revoked partitions go to their new owners in the next rebalance")
            added = sorted(set(assignment) - owned)
        else:
            for tp in owned - set(assignment):  # (eager members revoked everything before joining)
                subs.forget(tp)
            added = sorted(set(assignment) - owned)
        subs.set_assignment(assignment)
        subs.add(added)

    # ------------------------------------------------------------------ the heartbeat thread
    def _heartbeat_tick(self) -> None:
        if self.client.closed:
            return
        if (self.state == STABLE or self._completing) and self.generation != p.NO_GENERATION:
            if self.state == STABLE and self.sim.now - self.last_poll > self.max_poll_interval_ms:
                self._log(f"no poll for {self.sim.now - self.last_poll:g} ms > max_poll_interval_ms: leaving")
                self.leave_group("max_poll_interval_ms passed between polls")
            elif not self._heartbeat_out:
                self._heartbeat_out = True
                self._send("heartbeat", p.HeartbeatRequest(self.next_id(), self.group_id, self.generation,
                                                           self.member_id, self.group_instance_id))
        self._heartbeat_timer = self.node.after(self.heartbeat_interval_ms, self._heartbeat_tick)

    def leave_group(self, reason: str) -> None:
        if self.member_id and self.group_instance_id is None:   # static members do not leave (KIP-345)
            self._send("leave", p.LeaveGroupRequest(self.next_id(), self.group_id, self.member_id))
        self.reset_generation(True, reason)

    # ------------------------------------------------------------------ responses (network thread)
    def on_response(self, msg: Any) -> bool:
        """Handle a coordinator response; False if it was not ours (or is stale)."""
        entry = self._pending.pop(msg.request_id, None)
        if entry is None:
            return False
        kind, extra = entry
        if kind == "join":
            self._join_response = msg
            if msg.error is None and self.state == REBALANCING:
                self._join_response = None
                try:     # like kafka-python's background join task: SyncGroup follows at once
                    self._handle_join_response(msg)
                except E.KafkaError:
                    self._join_sent, self._join_response = True, msg   # poll() raises it
        elif kind == "sync":
            self._sync_response = msg
        elif kind == "heartbeat":
            self._heartbeat_out = False
            self._on_heartbeat(msg.error)
        elif kind in ("commit", "fetch_offsets"):
            extra(msg.error, msg)
        self.client.wakeup()
        return True

    def _on_heartbeat(self, error: str | None) -> None:
        if error is None or self.state != STABLE:
            return
        if error == p.REBALANCE_IN_PROGRESS:
            self.request_rejoin("the group is rebalancing")
        elif error == p.ILLEGAL_GENERATION:
            self.reset_generation(False, "heartbeat: illegal generation")
        elif error in (p.UNKNOWN_MEMBER_ID, p.FENCED_INSTANCE_ID):
            self.reset_generation(True, f"heartbeat: {error}")

    # ------------------------------------------------------------------ offsets
    def send_commit(self, offsets: dict[TopicPartition, p.OffsetAndMetadata], managed: bool,
                    done: Callable[[str | None, Any], None]) -> None:
        generation, member = (self.generation, self.member_id) if managed else (p.NO_GENERATION, p.NO_MEMBER_ID)
        self._send("commit", p.OffsetCommitRequest(self.next_id(), self.group_id, generation, member,
                                                   self.group_instance_id if managed else None, dict(offsets)),
                   extra=done)

    def commit_error(self, error: str, sent: tuple[int, str] | None = None) -> Exception:
        """Turn an OffsetCommit error into what the application sees, updating our state.

        ``sent``: the (generation, member id) the commit carried. When the member has joined a newer
        generation since (its JoinGroup answer overtook the commit's), the error is about the old one:
        it fails the commit but resets nothing (the Java client's ``generationUnchanged`` check)."""
        if sent is not None and sent != (self.generation, self.member_id) and error in (
                p.UNKNOWN_MEMBER_ID, p.ILLEGAL_GENERATION, p.REBALANCE_IN_PROGRESS):
            return E.CommitFailedError(f"{error} for generation {sent[0]}; this member has moved on to "
                                       f"generation {self.generation}")
        if error == p.UNKNOWN_MEMBER_ID:
            self.reset_generation(True, "commit: unknown member")
        elif error == p.ILLEGAL_GENERATION:
            self.reset_generation(False, "commit: illegal generation")
        elif error == p.REBALANCE_IN_PROGRESS:
            self.request_rejoin("commit: rebalance in progress")
        elif error == p.FENCED_INSTANCE_ID:
            return E.FencedInstanceIdError(error)
        else:
            return E.for_code(error)
        return E.CommitFailedError(error)

    def send_offset_fetch(self, tps: list[TopicPartition] | None, done: Callable[[str | None, Any], None]) -> None:
        self._send("fetch_offsets", p.OffsetFetchRequest(self.next_id(), self.group_id, tps), extra=done)
