"""The supervisor: one reconciliation loop that owns builds and instances.

Each tick compares what the store says should be (a service deployed with a mapping of
generations and maybe a challenger) with what is (builds, instances and their health) and
acts: it builds pending generations (``shipyard.supervisor.builder``), starts instances of the built
generations the mapping and the challenger need, puts the mapping in force once each of
its generations has a healthy instance (and passed the promotion gates), drains and stops
instances nobody needs, restarts instances that died (with backoff, counted), publishes
the routing table the gateway reads, and does the housekeeping (``housekeeping``: the
query log, instance credentials; ``shipyard.domain.artifact_removals``: the artifacts of
deleted generations). Because every decision is made from stored state, a
restart of the supervisor converges again: interrupted builds are redone, instances that
survived are adopted, and the others are started from their artifacts without a rebuild.

A tick comes every ``tick`` seconds, sooner when something waits on one: the API wakes the
supervisor after a change it acts on, a build or a promotion gate that ends wakes it, an
instance that turns healthy brings the next tick at once (its gates, then its promotion),
and while an instance starts its health is probed every ``starting_poll`` seconds.

Failure keeps the old: a build that fails, or a generation that never becomes healthy
(whether its instances exit, never answer, or cannot even be started), sends the service
back to the mapping in force, whose generations keep serving, and the service's status
says why.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipyard.contracts.run_paths import routes_file, supervisor_wakeups_file
from shipyard.contracts.supervisor_wakeups import DatabaseWakeups, WakeupChannel
from shipyard.domain.artifact_removals import ArtifactRemovals
from shipyard.domain.control_plane import ControlPlane
from shipyard.domain.generation_refs import tag_of
from shipyard.domain.states import (
    InstanceState,
    ServiceState,
    set_instance_state,
    set_service_state,
)
from shipyard.errors import ShipyardError
from shipyard.settings import Settings
from shipyard.store import GenerationRow, InstanceRow, ServiceRow, Store
from shipyard.supervisor.autoscaling import Autoscaler, ScalingPolicy
from shipyard.supervisor.batch_scoring import BatchScoring, GatewayAccess
from shipyard.supervisor.batch_timetable import BatchTimetable
from shipyard.supervisor.builder import Builder
from shipyard.supervisor.concurrency import ConcurrencyMeter
from shipyard.supervisor.drift_references import DriftReferences
from shipyard.supervisor.fleet_snapshot import publish_fleet_snapshot
from shipyard.supervisor.gatekeeper import Gatekeeper
from shipyard.supervisor.health_checks import HealthChecks
from shipyard.supervisor.housekeeping import Housekeeping
from shipyard.supervisor.instances import InstanceLifecycle
from shipyard.supervisor.leadership import FencedStore, Lease, node_name
from shipyard.supervisor.node_duties import NodeDuties, other_nodes_alive
from shipyard.supervisor.query_log_follower import QueryLogFollower
from shipyard.supervisor.replica_counts import ReplicaCounts
from shipyard.supervisor.rollout import (
    PromotionGate,
    give_up_generation,
    shares,
    wanted_generations,
)
from shipyard.supervisor.routing import RoutesPublisher, routing_table
from shipyard.supervisor.runner_set import RunnerSet
from shipyard.supervisor.usage_history import UsageHistory
from shipyard_runners import InstanceHandle, Runner, State

__all__ = ["PromotionGate", "Supervisor", "SupervisorTimings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SupervisorTimings:
    tick: float = 0.2
    starting_poll: float = 0.02
    """How often a starting instance's health is probed between ticks."""
    start_timeout: float = 60.0
    healthy_check_interval: float = 1.0
    missed_probes: int = 3
    """Probes in a row a healthy instance may miss before it leaves the routing table
    (``health_checks``: a busy instance misses some too)."""
    usage_interval: float = 2.0
    usage_history_interval: float = 10.0
    """How often the instances' usage goes into the stats (their usage history)."""
    drain: float = 1.0
    stop_grace: float = 30.0
    backoff_first: float = 1.0
    backoff_max: float = 30.0
    new_tries: int = 3
    """Starts a new generation gets before it is given up when it keeps exiting."""
    prune_interval: float = 3600.0
    """How often calls past the query log's retention are dropped."""
    credentials_renewal_interval: float = 300.0
    """How often running instances' access keys are renewed (see ``housekeeping``)."""
    scale_interval: float = 1.0
    """How often the autoscaler decides the live generations' replicas."""


@dataclass
class _Memory:
    """What the supervisor remembers between ticks (never needed for correctness)."""

    # When each generation last had a share of traffic or the challenger's role.
    routed_at: dict[str, float] = field(default_factory=dict)
    started_at: float = field(default_factory=time.monotonic)
    last_usage: float = 0.0
    last_scaling: float = 0.0
    last_usage_history: float = 0.0
    # When each instance's starts began failing, for those failing still (wall clock);
    # after a restart of the supervisor, a start that fails has its start_timeout again.
    failing_since: dict[str, float] = field(default_factory=dict)
    # The instances started and not yet healthy, probed between ticks.
    starting: dict[str, InstanceHandle] = field(default_factory=dict)
    # When each replica too many began draining; after a restart of the supervisor, when
    # that is not known, it drains as long again.
    draining_since: dict[str, float] = field(default_factory=dict)


class Supervisor(InstanceLifecycle, ReplicaCounts):
    def __init__(
        self,
        plane: ControlPlane,
        runner: Runner,
        *,
        timings: SupervisorTimings | None = None,
        build_workers: int = 2,
        gates: Sequence[PromotionGate] = (),
        drift_references: DriftReferences | None = None,
        wakeups: WakeupChannel | None = None,
    ) -> None:
        self.plane = plane
        self.store = plane.store
        self.runner = runner
        self.timings = timings or SupervisorTimings()
        self._own_wakeups = wakeups is None
        self.wakeups = wakeups or WakeupChannel()
        self._builder = Builder(plane, runner, build_workers, self._build_finished,
                                ended=self.wakeups.wake)
        self._stops = ThreadPoolExecutor(4, thread_name_prefix="stop")
        self._health = HealthChecks(runner.health, interval=self.timings.healthy_check_interval,
                                    missed_allowed=self.timings.missed_probes)
        self._lock = threading.Lock()
        self._stopping: set[str] = set()
        self._memory = _Memory()
        self._gatekeeper = Gatekeeper(self.store, gates, answered=self.wakeups.wake)
        self._drift_references = drift_references
        settings = plane.settings
        self._autoscaler = Autoscaler(ConcurrencyMeter(), ScalingPolicy(
            stable_window=settings.scale_stable_window,
            panic_window=settings.scale_panic_window,
            scale_down_delay=settings.scale_down_delay,
        ))
        self._housekeeping = Housekeeping(
            self.store, settings, prune_interval=self.timings.prune_interval,
            renewal_interval=self.timings.credentials_renewal_interval,
        )
        # The calls every node stored, read back: the autoscaler's load.
        self._calls = QueryLogFollower(self.store, self._autoscaler.meter.observe)
        self._removals = ArtifactRemovals(self.store, runner)
        self._routes = RoutesPublisher(routes_file(plane.settings.home))
        self._batch = BatchScoring(
            self.store, settings.home, plane.access.access_keys,
            # This node's gateway, never public_url: that may be a proxy in front of it
            # which this machine cannot reach.
            GatewayAccess(settings.local_url, settings.region, settings.signing_service),
            jobs_at_once=settings.batch_jobs_at_once,
            calls_at_once=settings.batch_calls_at_once, ended=self.wakeups.wake,
        )
        self._timetable = BatchTimetable(self.store, plane.batch_jobs,
                                         plane.batch_schedules.sources, started=self.wakeups.wake)

    # -- the loop -------------------------------------------------------------------

    def run(self, stop: threading.Event,
            stop_instances: Callable[[], bool] = lambda: True) -> None:
        """Tick until ``stop``; then shut down, stopping the instances if
        ``stop_instances()`` says so (no other node goes on leading)."""
        self.recover()
        while not stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("supervisor tick failed; trying again")
            self._pause(stop)
        self.shutdown(stop_instances=stop_instances())

    def _pause(self, stop: threading.Event) -> None:
        """Until the next tick: ``tick`` seconds, cut short by a wake-up, or by a starting
        instance that answers its health check."""
        deadline = time.monotonic() + self.timings.tick
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            starting = self._memory.starting
            if starting:
                self._health.watch_starting(starting, answered=self.wakeups.wake)
                remaining = min(remaining, self.timings.starting_poll)
            if self.wakeups.wait(remaining):
                return

    def recover(self) -> None:
        """After a (re)start: redo builds a crash cut short (or fail those cut short too
        often), adopt or forget old instances."""
        self._builder.recover()
        with self.store.writing() as session:
            for row in session.scalars(select(InstanceRow)):
                if row.handle:
                    handle = InstanceHandle.from_dict(row.handle)
                    if self.runner.adopt(handle):
                        log.info("adopted instance %s", row.id)
                        continue
                    # Its master may be gone while workers still hold the port.
                    self._stop_quietly(handle, grace=0.0)
                row.handle = None
                set_instance_state(row, State.EXITED)
                row.next_start_at = 0.0

    def tick(self) -> None:
        self._builder.schedule()
        self._answer_demand()
        if time.monotonic() - self._memory.last_scaling >= self.timings.scale_interval:
            self._memory.last_scaling = time.monotonic()
            self._calls.poll()
            self._autoscale()
        self._reconcile()
        self._publish_routes()
        if time.monotonic() - self._memory.last_usage >= self.timings.usage_interval:
            self._record_usage()
        self._housekeeping.run()
        if self._drift_references is not None:
            self._drift_references.take_due(self.store)
        with self._lock:
            stopping = bool(self._stopping)
        if not stopping:  # an instance being stopped may still run from its artifact
            self._removals.run()
        self._timetable.run()
        self._batch.run()

    def shutdown(self, *, stop_instances: bool = True) -> None:
        """Finish running builds and gates, pause the batch jobs (they resume at the next
        start), then stop every instance; desired state stays stored. With
        ``stop_instances`` False (another node goes on leading), the instances keep running
        for the next leader to adopt."""
        self._timetable.shutdown()
        self._batch.shutdown()
        self._builder.shutdown()
        self._gatekeeper.shutdown()
        if self._drift_references is not None:
            self._drift_references.shutdown()
        self._stops.shutdown(wait=True)
        self._health.shutdown()
        if stop_instances:
            self._stop_every_instance()
        if self._own_wakeups:
            self.wakeups.close()

    def _stop_every_instance(self) -> None:
        with self.store.reading() as session:
            rows = [(r.id, r.handle) for r in session.scalars(select(InstanceRow))]
        with ThreadPoolExecutor(8) as pool:
            for _id, handle in rows:
                if handle:
                    pool.submit(self._stop_quietly, InstanceHandle.from_dict(handle))
        with self.store.writing() as session:
            session.execute(delete(InstanceRow))

    # -- builds ---------------------------------------------------------------------

    def _build_finished(
        self, session: Session, service: ServiceRow, generation: GenerationRow, error: str
    ) -> None:
        """A build ended (``error`` is "" when it succeeded): say what comes next."""
        tag = tag_of(generation.number)
        if not error:
            if generation.id in shares(service.mapping):
                set_service_state(service, ServiceState.STARTING, f"starting {tag}")
            return
        give_up_generation(session, service, generation, f"build of {tag} failed: {error}")

    # -- instances ------------------------------------------------------------------

    def _reconcile(self) -> None:
        # Health checks are network calls: made before taking the store's write lock.
        health = self._check_health()
        self._gatekeeper.ask_due()
        with self.store.writing() as session:
            services = session.scalars(select(ServiceRow)).all()
            for service in services:
                self._reconcile_service(session, service, health)
            # Published before the commit, so that the gateway routes to a promoted
            # generation no later than the API reports it live.
            session.flush()
            self._routes.publish(session, routing_table(session))
            self._memory.starting = {
                instance_id: InstanceHandle.from_dict(handle)
                for instance_id, handle in session.execute(
                    select(InstanceRow.id, InstanceRow.handle).where(
                        InstanceRow.state == State.STARTING.value,
                        InstanceRow.handle.is_not(None))
                )
            }

    def _check_health(self) -> dict[str, State]:
        """The health of every started instance that is due a check."""
        with self.store.reading() as session:
            rows = session.execute(
                select(InstanceRow.id, InstanceRow.state, InstanceRow.handle)
                .where(InstanceRow.handle.is_not(None))
            ).all()
        return self._health.check((instance_id, state, handle or {})
                                  for instance_id, state, handle in rows)

    def _reconcile_service(
        self, session: Session, service: ServiceRow, health: dict[str, State]
    ) -> None:
        now = time.time()
        wanted = wanted_generations(session, service)
        replicas = {generation_id: self._replicas_of(session, service, generation_id)
                    for generation_id in wanted}
        by_generation: dict[str, list[InstanceRow]] = {}
        draining: list[InstanceRow] = []
        for row in session.scalars(
            select(InstanceRow).where(InstanceRow.service_id == service.id)
            .order_by(InstanceRow.id)
        ):
            if row.state == InstanceState.DRAINING:
                draining.append(row)
            else:
                by_generation.setdefault(row.generation_id, []).append(row)
        for generation_id in wanted:
            rows = by_generation.setdefault(generation_id, [])
            while len(rows) < replicas[generation_id]:
                row = InstanceRow(
                    id="i-" + uuid.uuid4().hex[:12], service_id=service.id,
                    generation_id=generation_id, handle=None, state=InstanceState.PENDING,
                    restarts=0, next_start_at=0.0, started_at=0.0, healthy_since=None,
                    last_error="", cpu_percent=0.0, memory_bytes=0,
                )
                session.add(row)
                rows.append(row)
        routed = set(shares(service.live_mapping)) if service.deployed else set()
        if service.deployed and service.challenger_generation_id:
            routed.add(service.challenger_generation_id)
        for generation_id in routed:
            self._memory.routed_at[generation_id] = time.monotonic()
        for generation_id, rows in list(by_generation.items()):
            if generation_id not in wanted:
                if self._may_stop(generation_id):
                    for row in rows:
                        self._retire(session, row)
                    del by_generation[generation_id]
                continue
            kept = sorted(rows, key=_keep_first)[:replicas[generation_id]]
            for row in rows:
                if row in kept:
                    self._tend(session, service, row, health.get(row.id), now)
                else:
                    self._drain(row)
                    draining.append(row)
            by_generation[generation_id] = kept
        for row in draining:
            if self._drained(row):
                self._retire(session, row)
        self._promote_if_ready(session, service, by_generation, replicas)
        if not service.deployed and not any(by_generation.values()) and not draining:
            service.live_generation_id = None
            service.live_mapping = None
            if service.state != ServiceState.STOPPED:
                set_service_state(service, ServiceState.STOPPED, "")

    def _drain(self, row: InstanceRow) -> None:
        """Take a replica its service no longer runs out of the routing table; it stops
        once the gateway has had ``drain`` seconds to route away from it."""
        log.info("instance %s of generation %s is a replica too many; draining it",
                 row.id, row.generation_id)
        set_instance_state(row, InstanceState.DRAINING)
        self._memory.draining_since[row.id] = time.monotonic()

    def _drained(self, row: InstanceRow) -> bool:
        return self._drain_over(self._memory.draining_since, row.id)

    def _may_stop(self, generation_id: str) -> bool:
        return self._drain_over(self._memory.routed_at, generation_id)

    def _drain_over(self, since: dict[str, float], key: str) -> bool:
        """Whether the gateway has had ``drain`` seconds to route away from ``key`` since
        ``since[key]`` (forgotten then); after a restart of the supervisor, when that time
        is not known, it waits as long again."""
        if time.monotonic() - since.get(key, self._memory.started_at) < self.timings.drain:
            return False
        since.pop(key, None)
        return True

    def _tend(
        self, session: Session, service: ServiceRow, row: InstanceRow,
        state: State | None, now: float,
    ) -> None:
        """Start, or act on the health of, one wanted instance."""
        if row.handle is None:
            if now >= row.next_start_at:
                self._start(session, service, row, now)
            return
        if state is None:
            return
        handle = InstanceHandle.from_dict(row.handle)
        if state == State.HEALTHY:
            if row.state != State.HEALTHY.value:
                row.healthy_since = now
                self.wakeups.wake()  # its gates and its promotion, at once
                if (service.state == ServiceState.STARTING
                        and service.mapping == service.live_mapping
                        and row.generation_id in shares(service.live_mapping)):
                    set_service_state(service, ServiceState.RUNNING, "")
            set_instance_state(row, state)
        elif state == State.EXITED:
            self._exited(session, service, row, now, handle)
        elif state == State.STARTING and now - row.started_at > self.timings.start_timeout:
            self._never_healthy(session, service, row, handle, now)
        else:
            set_instance_state(row, state)

    def _record_usage(self) -> None:
        """Each running instance's usage now; every ``usage_history_interval``, also a
        sample of it in the stats."""
        now = time.monotonic()
        self._memory.last_usage = now
        into_history = now - self._memory.last_usage_history >= self.timings.usage_history_interval
        history = UsageHistory(time.time()) if into_history else None
        with self.store.writing() as session:
            for row in session.scalars(select(InstanceRow).where(InstanceRow.handle.is_not(None))):
                try:
                    usage = self.runner.usage(InstanceHandle.from_dict(row.handle or {}))
                except ShipyardError:
                    continue
                row.cpu_percent = usage.cpu_percent
                row.memory_bytes = usage.memory_bytes
                if history is not None:
                    history.sample(session, row, usage)
            if history is not None:
                self._memory.last_usage_history = now
                history.count_replicas(session)
                history.fold(session)
            publish_fleet_snapshot(session, self.plane.settings.home,
                                   self._housekeeping.lines_set_aside)

    # -- routing --------------------------------------------------------------------

    def _publish_routes(self) -> None:
        """Publish what changed since the reconciliation (the API's doing: a service's
        access level, its monitoring settings), taking the write lock only then."""
        with self.store.reading() as session:
            if not self._routes.changed(routing_table(session)):
                return
        with self.store.writing() as session:
            self._routes.publish(session, routing_table(session))


def _keep_first(row: InstanceRow) -> tuple[bool, bool, float]:
    """Which replicas a generation keeps when it runs fewer: healthy ones, then started
    ones, the oldest first."""
    return (row.state != InstanceState.HEALTHY, row.handle is None, row.started_at)


def main() -> None:
    """``python -m shipyard.supervisor``: stand by until this node leads (``leadership``),
    then run the loop until SIGTERM, or until the lease is lost."""
    from shipyard.settings import RESOLVED_SETTINGS_VAR

    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(message)s")
    parser = argparse.ArgumentParser(prog="shipyard-supervisor")
    parser.add_argument("--stop-instances", action="store_true",
                        help="Stop every instance on record and exit (shipyard up's stop, "
                             "when the supervisor itself is down), unless another node "
                             "goes on leading.")
    args = parser.parse_args()
    settings = Settings.from_json(os.environ[RESOLVED_SETTINGS_VAR])
    name = node_name(settings.home)
    store = Store(settings.effective_database_url)
    if args.stop_instances:
        if other_nodes_alive(store, name) == []:
            plane = ControlPlane.build(settings, RunnerSet, migrate=False)
            Supervisor(plane, plane.runners).shutdown()
            plane.close()
        store.dispose()
        return
    stop = threading.Event()
    wakeups = WakeupChannel(supervisor_wakeups_file(settings.home))

    def stop_soon(*_: object) -> None:
        stop.set()
        wakeups.wake()

    signal.signal(signal.SIGTERM, stop_soon)
    signal.signal(signal.SIGINT, stop_soon)
    notified = DatabaseWakeups.start_for(store.engine, wakeups.wake)
    duties = NodeDuties(store, settings.home, name, settings.public_url)
    lease = Lease(store, name)
    while not stop.is_set():
        # The lease first: a node that leads never copies a routing table published by
        # an earlier leader, whose instances may be gone.
        if lease.acquire_or_renew():
            _lead(settings, lease, duties, stop, wakeups)
            break
        duties.run(leading=False)
        wakeups.wait(STANDBY_POLL)
    else:
        duties.leave()
    if notified is not None:
        notified.stop()
    wakeups.close()
    store.dispose()


STANDBY_POLL = 0.5
"""Seconds between a standby's rounds: its duties, and a try for the lease."""
LOST_LEASE_EXIT = 3
"""The exit status of a supervisor that lost its lease (its process tree starts it again,
to stand by)."""


def _lead(settings: Settings, lease: Lease, duties: NodeDuties, stop: threading.Event,
          wakeups: WakeupChannel) -> None:
    """Run the loop while this node holds the lease; stop there at once if it is lost
    (a crash-only exit: the instances stay for the next leader to adopt)."""
    from shipyard.supervisor.replacement_gate import ReplacementGate

    def keep_the_lease() -> None:
        renewed = time.monotonic()
        while not stop.wait(1.0):
            duties.run(leading=True)
            if time.monotonic() - renewed < lease.duration / 3:
                continue
            renewed = time.monotonic()
            if not lease.acquire_or_renew():
                log.error("this node lost the supervisor's lease; standing down")
                os._exit(LOST_LEASE_EXIT)

    threading.Thread(target=keep_the_lease, name="lease", daemon=True).start()
    plane = ControlPlane.build(settings, RunnerSet, migrate=False,
                               store=FencedStore(settings.effective_database_url, lease))
    timings = SupervisorTimings(start_timeout=float(settings.start_timeout))
    drift_references = DriftReferences()
    supervisor = Supervisor(plane, plane.runners, timings=timings,
                            gates=[ReplacementGate(), drift_references],
                            drift_references=drift_references, wakeups=wakeups)
    supervisor.run(stop, stop_instances=lambda: other_nodes_alive(
        duties.store, duties.name) == [])
    duties.leave()
    lease.release()
    plane.close()


if __name__ == "__main__":
    main()
