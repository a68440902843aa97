"""What the supervisor does besides running instances: each tick, move the calls the
gateways spooled into the query log (and the stats); now and then, drop the calls and the
stats past their retention, the scored rows and actuals past their window, and renew the
instances' credentials.

An instance gets its access key in its environment when it starts and cannot be handed
another while it runs, so its key is renewed for ``INSTANCE_CREDENTIALS_LIFETIME`` at a
time while it lives, and revoked when it stops. A key left behind by an instance that is
gone (a supervisor that died between the two) is revoked here, and one nobody renews (the
control plane stopped) expires within the lifetime.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from shipyard.contracts.run_paths import query_spool_dir
from shipyard.iam.access_keys import AccessKeys
from shipyard.settings import Settings
from shipyard.stats.actuals_window import prune_past_the_window
from shipyard.stats.retention import prune_stats
from shipyard.store import Store
from shipyard.supervisor.query_ingest import ingest_spool
from shipyard.supervisor.query_retention import prune_query_log

__all__ = ["INSTANCE_CREDENTIALS_LIFETIME", "Housekeeping"]

log = logging.getLogger(__name__)

INSTANCE_CREDENTIALS_LIFETIME = timedelta(hours=1)


@dataclass
class Housekeeping:
    store: Store
    settings: Settings
    prune_interval: float = 3600.0
    """How often what is past its retention (calls, stats, scored rows and actuals) is
    dropped."""
    renewal_interval: float = 300.0
    """How often instance keys are renewed: well inside their lifetime."""
    lines_set_aside: int = 0
    """Spool lines that could not be ingested (quarantined) since the supervisor started."""
    _next_prune: float = 0.0
    _next_renewal: float = 0.0

    def run(self) -> None:
        ingest_spool(self.store, query_spool_dir(self.settings.home), self._set_aside)
        now = time.monotonic()
        if now >= self._next_renewal:
            self._next_renewal = now + self.renewal_interval
            self.renew_instance_credentials()
        if now >= self._next_prune:
            self._next_prune = now + self.prune_interval
            self._prune_past_retention()

    def _set_aside(self, lines: int) -> None:
        self.lines_set_aside += lines

    def renew_instance_credentials(self) -> None:
        with self.store.writing() as session:
            _, revoked = AccessKeys.renew_for_instances(session, INSTANCE_CREDENTIALS_LIFETIME)
        if revoked:
            log.info("revoked the access keys of %d instances that are gone", revoked)

    def _prune_past_retention(self) -> None:
        """Drop the calls, the stats, and the scored rows and actuals past their
        retention, each by its own setting."""
        days = self.settings.query_log_retention_days
        removed = prune_query_log(self.store, days)
        if removed:
            log.info("dropped %d calls older than %d days from the query log", removed, days)
        days = self.settings.stats_retention_days
        removed = prune_stats(self.store, days)
        if removed:
            log.info("dropped %d stats rollups older than %d days", removed, days)
        days = self.settings.actuals_window_days
        removed = prune_past_the_window(self.store, days)
        if removed:
            log.info("dropped %d scored rows and actuals older than %d days", removed, days)
