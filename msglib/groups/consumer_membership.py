"""The consumer's half of KIP-848's protocol (``group_protocol="consumer"``): one heartbeat loop.

The Java client's ``ConsumerMembershipManager`` (Apache Kafka 4.0) in msglib's shape. There is no
JoinGroup/SyncGroup and no client-side assignor; the member

1. **joins** with a ConsumerGroupHeartbeat of member epoch 0, its subscription and rebalance timeout;
2. **heartbeats** every ``heartbeat_interval_ms`` *the coordinator* names in each answer
   (``group.consumer.heartbeat.interval.ms``), reporting its epoch and the partitions it owns;
3. **reconciles** when an answer carries an assignment: in the application thread's next ``poll()``
   it first revokes what is no longer there (commit, then ``on_partitions_revoked``), then adds what is
   new (``on_partitions_assigned``), and heartbeats at once: that heartbeat *acknowledges* the
   revocation, and only then does the coordinator hand those partitions to their next owner;
4. is **fenced** (FENCED_MEMBER_EPOCH, UNKNOWN_MEMBER_ID): it has lost its partitions
   (``on_partitions_lost``: too late to commit) and rejoins with epoch 0;
5. **leaves** with epoch -1 on ``close()`` (-2 for a static member: it keeps its partitions at the
   coordinator until it comes back or its session expires), or when ``poll()`` was not called for
   ``max_poll_interval_ms``.

Commits carry the member epoch where the classic protocol carries the generation (``generation`` is the
member epoch here, so the consumer's commit code is the same): STALE_MEMBER_EPOCH fails the commit.
``session_timeout_ms``, ``heartbeat_interval_ms`` and ``partition_assignment_strategy`` are the
coordinator's business with this protocol (the Java client rejects them; msglib ignores them), and
``group_remote_assignor`` names a server-side assignor (``uniform``, ``range``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from msglib import protocol as p
from msglib.groups import errors as E
from msglib.groups.membership import ConsumerCoordinator
from msglib.protocol import TopicPartition

if TYPE_CHECKING:  # pragma: no cover
    from msglib.client.network_client import NetworkClient
    from msglib.client.subscription_state import SubscriptionState

UNJOINED, JOINING, RECONCILING, STABLE = "UNJOINED", "JOINING", "RECONCILING", "STABLE"
FATAL = (p.FENCED_INSTANCE_ID, p.UNRELEASED_INSTANCE_ID, p.UNSUPPORTED_ASSIGNOR, p.INVALID_REQUEST,
         p.INCONSISTENT_GROUP_PROTOCOL)


class ConsumerMembershipManager(ConsumerCoordinator):
    """One consumer's membership of a KIP-848 group (see the module docstring). Offset commits and
    fetches are the classic coordinator client's (inherited); ``generation`` holds the member epoch."""

    group_protocol = "consumer"

    def __init__(self, client: "NetworkClient", subscriptions: "SubscriptionState", config: dict[str, Any],
                 coordinator: str, *, commit_before_rebalance: Callable[[list[TopicPartition] | None], None],
                 remote_assignor: str | None = None) -> None:
        super().__init__(client, subscriptions, config, coordinator, [], partition_counts=lambda topics: {},
                         commit_before_rebalance=commit_before_rebalance)
        self.remote_assignor = remote_assignor
        # KIP-1082: the client makes its member id once and keeps it for its lifetime, so a join whose
        # answer was lost is retried under the same id (no phantom member). Seeded: runs reproduce.
        self.member_id = f"{self.node.name}-{self.sim.random(f'member-id/{self.node.name}').getrandbits(48):012x}"
        self._incarnation = 0                                     # bumped when fenced or leaving: late answers
        self.state = UNJOINED
        self._full_next = True                                    # the next heartbeat carries every field
        self._sent_topics: tuple[str, ...] | None = None
        self._assignment: list[TopicPartition] | None = None      # received, applied by the next poll()
        self._lost = False                                        # fenced: partitions lost, at the next poll()
        self._fatal: str | None = None

    # ------------------------------------------------------------------ state
    @property
    def member_epoch(self) -> int:
        return self.generation

    @property
    def active(self) -> bool:
        return self.state == STABLE and self._assignment is None and not self._lost

    def request_rejoin(self, reason: str) -> None:
        """A new subscription: a member tells the coordinator in its next heartbeat (no rejoin)."""
        self._log(f"subscription changed: {reason}")
        if self.generation > 0 and not self._heartbeat_out:
            self._send_heartbeat()

    def reset_generation(self, reset_member_id: bool, reason: str) -> None:
        """Fenced: every partition is lost; join again with epoch 0 (keeping the member id, as Kafka 4.0)."""
        self._log(f"fenced: {reason}")
        self._incarnation += 1
        self._heartbeat_out = False
        self.generation = p.NO_GENERATION
        self.state = UNJOINED
        self._assignment = None
        self._lost = True
        self._full_next = True

    # ------------------------------------------------------------------ the application thread
    def poll(self) -> bool:
        self.last_poll = self.sim.now
        if self.subscriptions.subscription is None:
            return True
        if self._fatal is not None:
            error, self._fatal = self._fatal, None
            raise E.for_code(error)
        if self._lost:
            self._lost = False
            owned = sorted(self.subscriptions.assignment)
            if owned:
                self.subscriptions.lose(owned)
        if self._assignment is not None:
            assignment, self._assignment = self._assignment, None
            self._reconcile(assignment)
        if self.state == UNJOINED and not self._heartbeat_out and self.sim.now >= self._retry_at:
            self._join()
        return self.active

    def _reconcile(self, assignment: list[TopicPartition]) -> None:
        """Revoke what is gone (commit first), then add what is new; then acknowledge at once."""
        subs = self.subscriptions
        owned, new = set(subs.assignment), set(assignment)
        revoked = sorted(owned - new)
        if revoked:
            self.commit_before_rebalance(revoked)
            subs.revoke(revoked)
        added = sorted(new - owned)
        subs.set_assignment(new)
        subs.add(added)
        self.rebalances += 1
        self._log(f"epoch {self.generation}: revoked {[str(tp) for tp in revoked]}, "
                  f"added {[str(tp) for tp in added]}")
        if self.state == RECONCILING:
            self.state = STABLE
        if not self._heartbeat_out:
            self._send_heartbeat()       # the acknowledgement: the coordinator may hand the revoked ones on

    def _join(self) -> None:
        self.state = JOINING
        self._full_next = True
        self._log("ConsumerGroupHeartbeat: join (member epoch 0)")
        self._send_heartbeat(p.JOIN_GROUP_MEMBER_EPOCH)
        if self._heartbeat_timer is None:
            self._heartbeat_timer = self.node.after(self.heartbeat_interval_ms, self._heartbeat_tick)

    # ------------------------------------------------------------------ the heartbeat "thread"
    def _send_heartbeat(self, epoch: int | None = None) -> None:
        epoch = self.generation if epoch is None else epoch
        topics = tuple(sorted(self.subscriptions.subscription or ()))
        full = self._full_next or epoch == p.JOIN_GROUP_MEMBER_EPOCH
        req = p.ConsumerGroupHeartbeatRequest(
            self.next_id(), self.group_id, self.member_id or "", epoch, self.group_instance_id,
            rebalance_timeout_ms=self.max_poll_interval_ms if full else -1,
            subscribed_topic_names=list(topics) if full or topics != self._sent_topics else None,
            server_assignor=self.remote_assignor if full else None,
            topic_partitions=sorted(self.subscriptions.assignment), client_id=self.node.name)
        self._sent_topics = topics
        self._heartbeat_out = True
        self._send("heartbeat", req, extra=self._incarnation)

    def _heartbeat_tick(self) -> None:
        self._heartbeat_timer = None
        if self.client.closed:
            return
        if self.generation > 0 and not self._heartbeat_out:
            if self.sim.now - self.last_poll > self.max_poll_interval_ms:
                self._log(f"no poll for {self.sim.now - self.last_poll:g} ms > max_poll_interval_ms: leaving")
                self.leave_group("max_poll_interval_ms passed between polls")
                self._lost = True
            else:
                self._send_heartbeat()
        self._heartbeat_timer = self.node.after(self.heartbeat_interval_ms, self._heartbeat_tick)

    def leave_group(self, reason: str) -> None:
        if self.generation > 0 or self.state != UNJOINED:
            epoch = p.LEAVE_GROUP_STATIC_MEMBER_EPOCH if self.group_instance_id is not None \
                else p.LEAVE_GROUP_MEMBER_EPOCH
            self._log(f"leaving (epoch {epoch}): {reason}")
            self._send("leave", p.ConsumerGroupHeartbeatRequest(self.next_id(), self.group_id, self.member_id, epoch,
                                                                self.group_instance_id, client_id=self.node.name))
        self._incarnation += 1
        self._heartbeat_out = False
        self.generation = p.NO_GENERATION
        self.state = UNJOINED
        self._full_next = True

    # ------------------------------------------------------------------ responses (network thread)
    def on_response(self, msg: Any) -> bool:
        entry = self._pending.get(msg.request_id)
        if entry is None or entry[0] not in ("heartbeat", "leave"):
            return super().on_response(msg)
        del self._pending[msg.request_id]
        if entry[0] == "leave":
            return True
        if entry[1] == self._incarnation:      # an answer to a heartbeat from before a fence or leave: ignored
            self._heartbeat_out = False
            self._on_heartbeat_response(msg)
        self.client.wakeup()
        return True

    def _on_heartbeat_response(self, resp: p.ConsumerGroupHeartbeatResponse) -> None:
        if resp.error is not None:
            self._log(f"ConsumerGroupHeartbeat failed: {resp.error}")
            if resp.error in (p.FENCED_MEMBER_EPOCH, p.UNKNOWN_MEMBER_ID):
                self.reset_generation(False, resp.error)
            elif resp.error in FATAL:
                self._fatal = resp.error
                self.state = UNJOINED
                self._retry_at = float("inf")
            else:
                self._full_next = True
                self._retry_at = self.sim.now + self.retry_backoff_ms
            return
        self._full_next = False
        self.member_id = resp.member_id or self.member_id
        if resp.member_epoch != self.generation:
            self._log(f"member epoch {self.generation} -> {resp.member_epoch}")
        self.generation = resp.member_epoch
        if resp.heartbeat_interval_ms:
            self.heartbeat_interval_ms = resp.heartbeat_interval_ms
        if self.state in (UNJOINED, JOINING):
            self.state = RECONCILING
        if resp.assignment is not None:
            self._assignment = sorted(resp.assignment)
            self.state = RECONCILING
        elif self.state == RECONCILING and self._assignment is None:
            self.state = STABLE

    def _timeout(self, request_id: int) -> None:
        entry = self._pending.get(request_id)
        if entry is not None and entry[0] in ("heartbeat", "leave"):
            del self._pending[request_id]
            if entry[0] == "heartbeat" and entry[1] == self._incarnation:
                self._log("ConsumerGroupHeartbeat timed out")
                self._heartbeat_out = False
                self._full_next = True        # after an error or a timeout, a full request (Kafka's rule)
                if self.state == JOINING:
                    self.state = UNJOINED
                self.client.wakeup()
            return
        super()._timeout(request_id)

    # ------------------------------------------------------------------ offsets
    def commit_error(self, error: str, sent: tuple[int, str] | None = None) -> Exception:
        if error == p.STALE_MEMBER_EPOCH:
            return E.CommitFailedError(f"{error}: the commit carried member epoch {sent[0] if sent else '?'}, "
                                       f"the member is at epoch {self.generation} now")
        if error == p.UNKNOWN_MEMBER_ID:
            if sent is None or sent[1] == self.member_id:
                self.reset_generation(False, "commit: unknown member")
            return E.CommitFailedError(error)
        return super().commit_error(error, sent)


def check_group_protocol(value: Any) -> str:
    if value not in ("classic", "consumer"):
        raise ValueError(f"group_protocol must be 'classic' (JoinGroup/SyncGroup, the default) or 'consumer' "
                         f"(KIP-848's ConsumerGroupHeartbeat), not {value!r}")
    return value


__all__ = ["ConsumerMembershipManager", "check_group_protocol"]
