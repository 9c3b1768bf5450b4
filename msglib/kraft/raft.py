"""One voter of the KRaft metadata quorum (KIP-595) on msglib's simulated network.

State (KIP-595's names): the ``role`` (``follower``, ``candidate``, ``leader`` or ``resigned``; a
follower with ``leader is None`` is KIP-595's *unattached* state), the quorum ``epoch``,
``voted_for`` in that epoch, the replicated metadata ``log`` (a list of ``Entry(epoch, record)``) and
the ``high_watermark`` (entries below it are committed). ``epoch``, ``voted_for`` and ``log`` are on
disk (they survive a crash: the metadata log is flushed before it is acknowledged); the role, the
leader and the high-water mark are not (a restarted voter learns the HWM from the leader again).

The four RPCs:

- ``Vote``: a candidate asks for votes in its new epoch (the rule is ``policies.grant_vote``);
- ``BeginQuorumEpoch``: a new leader tells the voters it leads this epoch;
- ``EndQuorumEpoch``: a leader that resigns tells them to elect another one soon;
- ``Fetch``: followers (and observers: brokers) *pull* entries from the leader. A Fetch carries the
  fetcher's log end offset and last epoch; the leader answers with entries, its HWM, or, when the
  fetcher's log has diverged from its own, a *diverging epoch* (the largest epoch it has up to the
  fetcher's last one, and where that epoch ends) and the fetcher truncates and asks again.

A leader that has heard no Fetch from a majority within ``check_quorum_ms`` resigns (it is probably on
the minority side of a partition). A stale leader is *fenced* by epochs: every request and answer
carries the epoch, and a node that sees a newer one steps down.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from msglib.kraft.policies import Policies
from msglib.kraft.records import Entry, LeaderChangeRecord, MetadataRecord
from msglib.sim.network import Network, Node

FOLLOWER, CANDIDATE, LEADER, RESIGNED = "follower", "candidate", "leader", "resigned"


# -- the RPCs ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Vote:
    epoch: int
    candidate: str
    last_epoch: int
    end_offset: int


@dataclass(frozen=True)
class VoteResponse:
    epoch: int
    granted: bool


@dataclass(frozen=True)
class BeginQuorumEpoch:
    epoch: int
    leader: str


@dataclass(frozen=True)
class EndQuorumEpoch:
    epoch: int
    leader: str


@dataclass(frozen=True)
class Fetch:
    epoch: int
    replica: str
    fetch_offset: int
    last_fetched_epoch: int
    observer: bool = False  # a broker: not a voter, reads committed entries only


@dataclass(frozen=True)
class FetchResponse:
    epoch: int
    leader: str | None
    fetch_offset: int
    entries: tuple[Entry, ...] = ()
    high_watermark: int = 0
    diverging: tuple[int, int] | None = None  # (epoch, end offset) on the leader


@dataclass(frozen=True)
class QuorumConfig:
    """Timers in simulated ms (Kafka's ``controller.quorum.*`` settings, scaled down; docs/kraft.md)."""

    fetch_interval_ms: float = 10.0
    fetch_timeout_ms: float = 100.0       # controller.quorum.fetch.timeout.ms
    election_timeout_ms: float = 60.0     # controller.quorum.election.timeout.ms
    check_quorum_ms: float = 150.0        # 1.5 x fetch timeout, as KafkaRaftClient's check-quorum timer
    max_batch: int = 20


def end_offset_for(log: list[Entry], epoch: int) -> tuple[int, int]:
    """The largest epoch in ``log`` that is <= ``epoch``, and the offset where it ends
    (``(-1, 0)`` when the log has no such epoch)."""
    best = -1
    for i, entry in enumerate(log):
        if entry.epoch > epoch:
            return best, i
        best = entry.epoch
    return best, len(log)


class RaftNode(Node):
    """A voter of the metadata quorum. Subclasses (the controller) hook :meth:`on_become_leader`,
    :meth:`on_resign` and :meth:`on_commit`, and write with :meth:`append`."""

    def __init__(self, name: str, network: Network, voters: list[str], *,
                 config: QuorumConfig | None = None, policies: Policies | None = None,
                 observe: Callable[[str, str, dict], None] | None = None) -> None:
        super().__init__(name, network)
        if name not in voters:
            raise ValueError(f"{name!r} is not among the voters {voters}; list every voter, itself included")
        self.voters = list(voters)
        self.config = config or QuorumConfig()
        self.policies = policies or Policies()
        self.observe = observe or (lambda node, f, value: None)
        self.rng = self.sim.random(f"raft/{name}")
        # on disk
        self.epoch = 0
        self.voted_for: str | None = None
        self.log: list[Entry] = []
        # in memory
        self._reset_volatile()
        self._start()

    # -- state --------------------------------------------------------------------------------------
    def _reset_volatile(self) -> None:
        self.role = FOLLOWER
        self.leader: str | None = None
        self.high_watermark = 0
        self.votes: set[str] = set()
        self.end_offsets: dict[str, int] = {}  # leader: each voter's log end offset
        self.last_fetch_ms: dict[str, float] = {}  # leader: when each voter last fetched
        self.epoch_start_offset = 0
        self.last_leader_contact = self.sim.now
        self.epoch_start_time = self.sim.now
        self._deadline = 0.0  # election timeout deadline (followers without leader, candidates, resigned)

    @property
    def last_epoch(self) -> int:
        return self.log[-1].epoch if self.log else 0

    @property
    def majority(self) -> int:
        return len(self.voters) // 2 + 1

    def _start(self) -> None:
        self._arm_election()
        self.after(0.0, self._tick)

    def _arm_election(self) -> None:
        t = self.config.election_timeout_ms
        self._deadline = self.sim.now + self.rng.uniform(t, 2 * t)

    # -- hooks for the controller ------------------------------------------------------------------------
    def on_become_leader(self) -> None:
        """Called once this node leads a new epoch (its LeaderChange record is appended)."""

    def on_resign(self) -> None:
        """Called when this node stops leading."""

    def on_commit(self, offset: int, entry: Entry) -> None:
        """Called for each entry, in order, as the high-water mark passes it."""

    def append(self, record: MetadataRecord) -> int | None:
        """Append ``record`` in the current epoch if this node leads; its offset, or None."""
        if self.role != LEADER:
            return None
        self.log.append(Entry(self.epoch, record))
        self.end_offsets[self.name] = len(self.log)
        self._advance_hwm()
        return len(self.log) - 1

    # -- the clock ------------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = self.sim.now
        c = self.config
        if self.role == LEADER:
            heard = 1 + sum(1 for v in self.voters if v != self.name
                            and now - self.last_fetch_ms.get(v, -1e18) <= c.check_quorum_ms)
            if heard < self.majority and now - self.epoch_start_time >= c.check_quorum_ms:
                self._resign()
            else:  # remind voters that have not fetched lately (a lost BeginQuorumEpoch)
                for v in self.voters:
                    if v != self.name and now - self.last_fetch_ms.get(v, -1e18) > 3 * c.fetch_interval_ms:
                        self.send(v, BeginQuorumEpoch(self.epoch, self.name))
        elif self.role == FOLLOWER and self.leader is not None:
            if now - self.last_leader_contact > c.fetch_timeout_ms:
                self._become_candidate()
            else:
                self.send(self.leader, Fetch(self.epoch, self.name, len(self.log), self.last_epoch))
        elif now >= self._deadline:  # unattached follower, candidate, resigned
            self._become_candidate()
        self.after(c.fetch_interval_ms, self._tick)

    # -- transitions ----------------------------------------------------------------------------------
    def _step_down(self, epoch: int, leader: str | None) -> None:
        """Move to a newer epoch (or learn this epoch's leader) as a follower."""
        was_leader = self.role == LEADER
        if epoch > self.epoch:
            self.epoch, self.voted_for = epoch, None
        self.role = FOLLOWER
        self.leader = leader
        self.votes = set()
        self.last_leader_contact = self.sim.now
        self._arm_election()
        if was_leader:
            self.on_resign()

    def _become_candidate(self) -> None:
        was_leader = self.role == LEADER
        self.epoch += 1
        self.voted_for = self.name
        self.role = CANDIDATE
        self.leader = None
        self.votes = {self.name}
        self._arm_election()
        self.observe(self.name, "candidate", {"epoch": self.epoch})
        if was_leader:
            self.on_resign()
        for v in self.voters:
            if v != self.name:
                self.send(v, Vote(self.epoch, self.name, self.last_epoch, len(self.log)))
        self._maybe_win()

    def _maybe_win(self) -> None:
        if self.role == CANDIDATE and len(self.votes) >= self.majority:
            self.role = LEADER
            self.leader = self.name
            self.epoch_start_offset = len(self.log)
            self.epoch_start_time = self.sim.now
            self.end_offsets = {v: 0 for v in self.voters}
            self.last_fetch_ms = {}
            self.observe(self.name, "leader", {"epoch": self.epoch})
            self.log.append(Entry(self.epoch, LeaderChangeRecord(self.name, self.epoch)))
            self.end_offsets[self.name] = len(self.log)
            for v in self.voters:
                if v != self.name:
                    self.send(v, BeginQuorumEpoch(self.epoch, self.name))
            self._advance_hwm()
            self.on_become_leader()

    def _resign(self) -> None:
        self.role = RESIGNED
        self._arm_election()
        self.observe(self.name, "resign", {"epoch": self.epoch})
        for v in self.voters:
            if v != self.name:
                self.send(v, EndQuorumEpoch(self.epoch, self.name))
        self.on_resign()

    # -- the high-water mark ----------------------------------------------------------------------------
    def _set_hwm(self, hwm: int) -> None:
        hwm = min(hwm, len(self.log))
        old = self.high_watermark
        if hwm <= old:
            return
        self.high_watermark = hwm
        for offset in range(old, hwm):
            entry = self.log[offset]
            self.observe(self.name, "commit", {"offset": offset, "epoch": entry.epoch, "record": entry.record})
            self.on_commit(offset, entry)

    def _advance_hwm(self) -> None:
        voters = {v: self.end_offsets.get(v, 0) for v in self.voters}
        self._set_hwm(self.policies.advance_high_watermark(self.high_watermark, voters,
                                                           self.epoch_start_offset))

    # -- messages -----------------------------------------------------------------------------------
    def on_message(self, src: str, msg: Any) -> None:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            self.on_other_message(src, msg)
        else:
            handler(self, src, msg)

    def on_other_message(self, src: str, msg: Any) -> None:
        """Messages that are not quorum RPCs (the controller's broker and admin requests)."""

    def _on_vote(self, src: str, m: Vote) -> None:
        if m.epoch > self.epoch:
            self._step_down(m.epoch, None)
        granted = self.policies.grant_vote(
            epoch=self.epoch, voted_for=self.voted_for, candidate=m.candidate, candidate_epoch=m.epoch,
            candidate_last_epoch=m.last_epoch, candidate_end_offset=m.end_offset,
            last_epoch=self.last_epoch, end_offset=len(self.log))
        # A follower that already follows a leader in this epoch votes for nobody else (KIP-595).
        if granted and m.epoch == self.epoch and self.role == FOLLOWER and self.leader in (None, m.candidate):
            self.voted_for = m.candidate
            self._arm_election()
        else:
            granted = False
        self.send(src, VoteResponse(self.epoch, granted))

    def _on_vote_response(self, src: str, m: VoteResponse) -> None:
        if m.epoch > self.epoch:
            self._step_down(m.epoch, None)
        elif m.epoch == self.epoch and m.granted and self.role == CANDIDATE:
            self.votes.add(src)
            self._maybe_win()

    def _on_begin(self, src: str, m: BeginQuorumEpoch) -> None:
        if m.epoch > self.epoch or (m.epoch == self.epoch and self.role != LEADER and self.leader is None):
            self._step_down(m.epoch, m.leader)

    def _on_end(self, src: str, m: EndQuorumEpoch) -> None:
        if m.epoch == self.epoch and self.leader == m.leader and self.role == FOLLOWER:
            self.leader = None  # unattached: elect soon, with a short random backoff
            self._deadline = self.sim.now + self.rng.uniform(0, self.config.election_timeout_ms)

    def _on_fetch(self, src: str, m: Fetch) -> None:
        if m.epoch > self.epoch and not m.observer:
            self._step_down(m.epoch, None)
            return
        if self.role != LEADER or m.epoch < self.epoch:
            hint = self.leader if self.role != RESIGNED else None
            self.send(src, FetchResponse(self.epoch, hint, m.fetch_offset))
            return
        if m.observer:  # a broker reads committed entries only
            entries = tuple(self.log[m.fetch_offset:min(self.high_watermark,
                                                        m.fetch_offset + self.config.max_batch)])
            self.send(src, FetchResponse(self.epoch, self.name, m.fetch_offset, entries, self.high_watermark))
            return
        if m.fetch_offset > 0:
            epoch, end = end_offset_for(self.log, m.last_fetched_epoch)
            if epoch != m.last_fetched_epoch or end < m.fetch_offset:
                self.send(src, FetchResponse(self.epoch, self.name, m.fetch_offset, (), self.high_watermark,
                                             (epoch, end)))
                return
        self.last_fetch_ms[m.replica] = self.sim.now
        self.end_offsets[m.replica] = m.fetch_offset
        self._advance_hwm()
        entries = tuple(self.log[m.fetch_offset:m.fetch_offset + self.config.max_batch])
        self.send(src, FetchResponse(self.epoch, self.name, m.fetch_offset, entries, self.high_watermark))

    def _on_fetch_response(self, src: str, m: FetchResponse) -> None:
        if m.epoch > self.epoch:
            self._step_down(m.epoch, m.leader)
        if m.epoch < self.epoch:
            return
        if m.leader is not None and self.role in (FOLLOWER, CANDIDATE) and self.leader != m.leader:
            self._step_down(m.epoch, m.leader)
        if src != self.leader or self.role != FOLLOWER:
            return
        self.last_leader_contact = self.sim.now
        if m.diverging is not None:
            epoch, end = m.diverging
            _, mine = end_offset_for(self.log, epoch)
            cut = min(end, mine, len(self.log))
            if cut < len(self.log):
                self.observe(self.name, "truncate", {"epoch": self.epoch, "to": cut, "from": len(self.log)})
                del self.log[cut:]
                self.high_watermark = min(self.high_watermark, cut)
            self.send(src, Fetch(self.epoch, self.name, len(self.log), self.last_epoch))
            return
        if m.fetch_offset != len(self.log):
            return  # an answer to an older request; the next fetch asks again
        self.log.extend(m.entries)
        self._set_hwm(m.high_watermark)
        if m.entries:  # more may be waiting: ask again at once
            self.send(src, Fetch(self.epoch, self.name, len(self.log), self.last_epoch))

    # -- crash and restart ------------------------------------------------------------------------------
    def on_crash(self, power_loss: bool) -> None:
        if self.role == LEADER:
            self.on_resign()
        self._reset_volatile()

    def on_restart(self) -> None:
        self._reset_volatile()
        self._start()


_HANDLERS: dict[type, Callable[[RaftNode, str, Any], None]] = {
    Vote: RaftNode._on_vote, VoteResponse: RaftNode._on_vote_response, BeginQuorumEpoch: RaftNode._on_begin,
    EndQuorumEpoch: RaftNode._on_end, Fetch: RaftNode._on_fetch, FetchResponse: RaftNode._on_fetch_response,
}
