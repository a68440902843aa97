"""PostgreSQL stopped for 10 s under two control-plane nodes: both gateways keep serving
from their last routing table (the callers whose keys they know), both APIs answer 503
saying the database cannot be reached, and everything resumes by itself (a node leads
again and a redeploy goes through, v1 not rebuilt).

The cluster is this module's own, so that stopping it disturbs no other test."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_control_plane_nodes import (
    SERVICE,
    builds,
    call,
    deployed_on,
    lease_of,
    serves_what_the_leader_published,
    two_nodes,
)
from tests.integration.test_deploy import put_file, wait_for
from tests.postgres import PostgresCluster, running_cluster

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 10.0


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster("shipyard-pg-nodes-outage-") as cluster:
        yield cluster


def test_gateways_serve_through_a_database_outage_and_everything_resumes(
    cluster: PostgresCluster, tmp_path: Path
) -> None:
    with cluster.fresh_database() as url, two_nodes(tmp_path, url) as nodes:
        first, second = nodes
        deployed_on(first, tmp_path)
        serves_what_the_leader_published(second, first)
        before = builds(url)
        lease = lease_of(url)
        assert lease is not None
        for node in nodes:  # each gateway has looked the caller's key up once
            assert call(node, 2, 5).json() == 7

        cluster.pause()
        try:
            down = time.monotonic()
            answered = 0
            while time.monotonic() - down < OUTAGE_SECONDS:
                for node in nodes:
                    answer = call(node, answered, 1)
                    assert answer.status_code == 200, answer.text
                    assert answer.json() == answered + 1
                    answered += 1
                refused = first.http.get(f"{first.url}/api/v1/services/{SERVICE}", timeout=30)
                assert refused.status_code == 503, refused.text
                error = refused.json()["error"]
                assert error["type"] == "Unavailable"
                assert "the database cannot be reached" in error["message"]
                time.sleep(0.5)
            print(f"{answered} calls answered while the database was down")
        finally:
            # Back before the nodes stop, whatever failed: a node that cannot tell whether
            # others run leaves its instances running for them.
            cluster.resume()

        for node in nodes:
            wait_for(lambda n=node: n.http.get(f"{n.url}/api/v1/services/{SERVICE}",
                                               timeout=30).status_code == 200,
                     what=f"{node.url}'s API to answer again")
        # The lease expired during the outage: a node leads again, in a later epoch.
        wait_for(lambda: (now := lease_of(url)) is not None and now[1] > lease[1],
                 what="a node to lead again")
        put_file(first, "generation.txt", "after the outage\n")
        redeployed = first.cli("deploy", SERVICE)
        assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
        serves_what_the_leader_published(second, first)
        for node in nodes:
            answer = call(node, 2, 5)
            assert answer.status_code == 200 and answer.json() == 7
            assert answer.headers["X-Shipyard-Generation"] == "v2"
        assert builds(url)[:1] == before  # v1 was not built again
