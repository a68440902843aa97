"""The gateway's routing-table watcher stops when cancelled, whatever it was waiting for at
that moment: a gateway that is told to stop must stop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from shipyard.contracts.routing_table import RoutingTable, write_routing_table
from shipyard.gateway.watcher import TableWatcher


def test_a_cancelled_watcher_ends_even_as_files_change_and_its_interval_elapses(
    tmp_path: Path
) -> None:
    path = tmp_path / "routes.json"
    write_routing_table(path, RoutingTable())
    churning = threading.Event()

    def churn() -> None:  # files moved in all the time: events all the time
        number = 0
        while not churning.is_set():
            (tmp_path / f"other-{number % 5}").write_text("x")
            number += 1

    async def cancel_watchers() -> int:
        still_running = 0
        for _ in range(100):
            task = asyncio.create_task(TableWatcher(path, 0.0005, lambda _table: None).run())
            await asyncio.sleep(0.003)
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=1.0)
            still_running += not done
        return still_running

    found: list[int] = []
    # In a thread of its own: a watcher that swallowed its cancellation would keep
    # asyncio.run from ever returning.
    runner = threading.Thread(target=lambda: found.append(asyncio.run(cancel_watchers())),
                              daemon=True)
    threading.Thread(target=churn, daemon=True).start()
    try:
        runner.start()
        runner.join(timeout=120)
    finally:
        churning.set()
    assert found == [0], "a cancelled watcher went on running"
