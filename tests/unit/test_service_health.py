"""Service health without processes: thresholds checked and merged, a health told from
figures, and many services' health read from folded rollups at once."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import InvalidInput
from shipyard.stats.folding import fold_calls
from shipyard.stats.health import (
    Health,
    HealthStatus,
    health_of,
    recent_window,
    service_health,
    thresholds_of,
)
from shipyard.stats.health_thresholds import (
    DEFAULT_SLOW_REQUEST_MS,
    HealthThresholds,
    Levels,
    patched_overrides,
)
from shipyard.stats.queries import ServiceStats
from shipyard.store import Base, Store
from tests.conftest import store_url

NOW = datetime(2026, 3, 2, 12, 30, 20, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Store]:
    store = Store(store_url(database_url, tmp_path))
    Base.metadata.create_all(store.engine)
    yield store
    store.dispose()


@dataclass(frozen=True)
class Subject:
    id: str
    deployed: bool = True
    health_thresholds: Any = None


def call(service_id: str, minutes_ago: float, status: int = 200, latency_ms: float = 20.0,
         generation: str | None = "v1") -> dict[str, Any]:
    return {
        "at": NOW - timedelta(minutes=minutes_ago), "service_id": service_id,
        "generation": generation, "status": status, "latency_ms": latency_ms,
        "instance_ms": latency_ms / 2 if generation else None, "predictions": None,
        "request_bytes": 10, "response_bytes": 10, "caller": "user:a",
        "challenger_generation": None, "challenger_status": None,
        "challenger_latency_ms": None,
    }


def figures(calls: int, server: float | None = 0.0, user: float | None = 0.0,
            p90: float | None = 10.0) -> dict[str, Any]:
    return {"total_requests": calls, "server_error_rate": server, "user_error_rate": user,
            "response_time": {"p50": p90, "p90": p90, "p99": p90}}


# -- thresholds ------------------------------------------------------------------------


def test_the_defaults_are_documented_values_and_survive_a_round_trip() -> None:
    defaults = HealthThresholds()
    assert defaults.to_dict() == {
        "window_minutes": 60, "min_requests": 1,
        "server_error_rate": {"warning": 0.01, "failing": 0.05},
        "user_error_rate": {"warning": 0.10, "failing": 0.25},
        "response_time_p90_ms": {"warning": 1000.0, "failing": 5000.0},
        "slow_request_ms": DEFAULT_SLOW_REQUEST_MS,
    }
    assert HealthThresholds.from_dict(defaults.to_dict()) == defaults
    assert HealthThresholds.from_dict(None) == HealthThresholds.from_dict({}) == defaults


def test_a_partial_dict_fills_the_rest_from_the_defaults_or_a_base() -> None:
    partial = HealthThresholds.from_dict({"server_error_rate": {"warning": 0.02},
                                          "window_minutes": 15})
    assert partial.server_error_rate == Levels(0.02, 0.05)
    assert partial.window_minutes == 15 and isinstance(partial.window_minutes, int)
    assert partial.user_error_rate == HealthThresholds().user_error_rate
    based = HealthThresholds.from_dict({"server_error_rate": {"failing": 0.5}}, base=partial)
    assert based.server_error_rate == Levels(0.02, 0.5) and based.window_minutes == 15


@pytest.mark.parametrize(("data", "message"), [
    ({"window": 5}, "unknown health_thresholds key(s) ['window']; known: window_minutes, "),
    ({"server_error_rate": {"warn": 0.1}},
     "unknown health_thresholds.server_error_rate key(s) ['warn']; known: warning, failing"),
    ({"server_error_rate": 0.02},
     "health_thresholds.server_error_rate must be an object with warning and/or failing, "
     'such as {"warning": 0.01, "failing": 0.05}, not 0.02'),
    ({"user_error_rate": {"failing": 1.5}},
     "health_thresholds.user_error_rate.failing must be from 0 to 1 (a rate), not 1.5"),
    ({"server_error_rate": {"warning": -0.1}},
     "health_thresholds.server_error_rate.warning must be from 0 to 1 (a rate), not -0.1"),
    ({"server_error_rate": {"warning": "1%"}},
     "health_thresholds.server_error_rate.warning must be a rate from 0 to 1, not '1%'"),
    ({"server_error_rate": {"warning": math.nan}}, "not nan"),
    ({"min_requests": True}, "health_thresholds.min_requests must be a whole number of calls"),
    ({"window_minutes": 1.5}, "window_minutes must be a whole number of minutes from 1 to "
                              "10080, not 1.5"),
    ({"window_minutes": 0}, "window_minutes must be from 1 to 10080"),
    ({"window_minutes": 20_000}, "window_minutes must be from 1 to 10080"),
    ({"response_time_p90_ms": {"warning": 6000}},
     "health_thresholds.response_time_p90_ms: the warning threshold 6000 is over the failing "
     "threshold 5000; a warning must come at or before failing"),
    ({"slow_request_ms": None}, "slow_request_ms must be milliseconds from 0 to 3.6e+06"),
    (["server_error_rate"], "health_thresholds must be an object"),
])
def test_thresholds_out_of_range_or_unknown_are_refused_by_name(data: Any, message: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        HealthThresholds.from_dict(data)
    assert message in raised.value.message


def test_a_whole_number_given_as_a_float_is_taken() -> None:
    assert HealthThresholds.from_dict({"min_requests": 10.0}).min_requests == 10


# -- what a service stores -------------------------------------------------------------


def test_changes_merge_over_the_stored_thresholds_and_null_resets() -> None:
    stored = patched_overrides(None, {"server_error_rate": {"warning": 0.02}})
    assert stored == {"server_error_rate": {"warning": 0.02}}
    stored = patched_overrides(stored, {"server_error_rate": {"failing": 0.1},
                                        "min_requests": 5})
    assert stored == {"server_error_rate": {"warning": 0.02, "failing": 0.1},
                      "min_requests": 5}
    # A level, then a key, back to its default; a figure left without levels is dropped.
    assert patched_overrides(stored, {"server_error_rate": {"warning": None}}) == {
        "server_error_rate": {"failing": 0.1}, "min_requests": 5}
    assert patched_overrides(stored, {"server_error_rate": None}) == {"min_requests": 5}
    assert patched_overrides({"min_requests": 5}, {"min_requests": None}) is None
    assert patched_overrides(stored, None) is None
    assert patched_overrides(None, {}) is None
    # Numbers are stored as the thresholds take them.
    assert patched_overrides(None, {"response_time_p90_ms": {"failing": 3000}}) == {
        "response_time_p90_ms": {"failing": 3000.0}}


def test_a_change_is_checked_against_what_is_stored() -> None:
    stored = {"server_error_rate": {"warning": 0.02, "failing": 0.1}}
    # Over the defaults a warning of 0.08 would be past failing (0.05); not over these.
    assert patched_overrides(stored, {"server_error_rate": {"warning": 0.08}}) == {
        "server_error_rate": {"warning": 0.08, "failing": 0.1}}
    with pytest.raises(InvalidInput, match=r"the warning threshold 0\.02 is over the failing"):
        patched_overrides(stored, {"server_error_rate": {"failing": 0.01}})
    with pytest.raises(InvalidInput, match="must be an object such as"):
        patched_overrides(stored, "strict")


def test_a_service_s_thresholds_are_the_defaults_with_its_own_over_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert thresholds_of(Subject("svc_a")) == HealthThresholds()
    own = thresholds_of(Subject("svc_a", health_thresholds={"min_requests": 3}))
    assert own == HealthThresholds(min_requests=3)
    assert thresholds_of(Subject("svc_a", health_thresholds=own)) is own
    with caplog.at_level(logging.WARNING):
        broken = thresholds_of(Subject("svc_b", health_thresholds={"retired": 1}))
    assert broken == HealthThresholds()
    assert "svc_b: stored health_thresholds ignored" in caplog.text


# -- telling health from figures -------------------------------------------------------


def test_every_figure_under_its_warning_threshold_is_passing() -> None:
    assert health_of(figures(100, 0.01, 0.1, 1000.0), HealthThresholds()) == Health(
        HealthStatus.PASSING, (), 60)


@pytest.mark.parametrize(("given", "status", "reason"), [
    (figures(100, server=0.07), "failing",
     "server_error_rate 7.0% over the failing threshold 5%"),
    (figures(100, server=0.02), "warning",
     "server_error_rate 2.0% over the warning threshold 1%"),
    (figures(100, user=0.3), "failing", "user_error_rate 30.0% over the failing threshold 25%"),
    (figures(100, user=0.125), "warning",
     "user_error_rate 12.5% over the warning threshold 10%"),
    (figures(100, p90=1234.5), "warning",
     "response_time p90 1234.5 ms over the warning threshold 1000 ms"),
    (figures(100, p90=5000.1), "failing",
     "response_time p90 5000.1 ms over the failing threshold 5000 ms"),
])
def test_each_figure_over_a_threshold_is_a_reason(
    given: dict[str, Any], status: str, reason: str
) -> None:
    health = health_of(given, HealthThresholds())
    assert health.status == status
    assert health.reasons == (reason,)


def test_the_worst_check_wins_and_every_crossing_is_a_reason() -> None:
    health = health_of(figures(40, server=0.025, user=0.5, p90=1500.0), HealthThresholds())
    assert health.status == HealthStatus.FAILING
    assert health.reasons == (
        "server_error_rate 2.5% over the warning threshold 1%",
        "user_error_rate 50.0% over the failing threshold 25%",
        "response_time p90 1500.0 ms over the warning threshold 1000 ms",
    )
    assert health.to_dict() == {"status": "failing", "reasons": list(health.reasons),
                                "window_minutes": 60}


def test_too_few_calls_is_unknown_and_a_rate_of_1_never_trips() -> None:
    strict = HealthThresholds(min_requests=10, window_minutes=30)
    assert health_of(figures(0, None, None, None), strict) == Health(
        HealthStatus.UNKNOWN, ("no calls in the last 30 minutes",), 30)
    assert health_of(figures(3, server=1.0), strict).reasons == (
        "3 calls in the last 30 minutes, fewer than min_requests (10)",)
    lenient = HealthThresholds(server_error_rate=Levels(1.0, 1.0))
    assert health_of(figures(5, server=1.0), lenient).status == HealthStatus.PASSING
    # At a threshold is not over it.
    assert health_of(figures(100, server=0.05), HealthThresholds()).status == "warning"
    assert health_of(figures(100, p90=None), HealthThresholds()).status == "passing"


# -- many services from their rollups --------------------------------------------------


def test_the_window_is_the_last_whole_minutes_with_the_current_one() -> None:
    window = recent_window(60, NOW)
    assert window.end == math.ceil(NOW.timestamp() / 60) * 60
    assert window.end - window.start == 3600
    assert recent_window(60, NOW.timestamp()) == window


def test_many_services_read_at_once_match_their_stats_summary(store: Store) -> None:
    calls = (
        # steady: 200 quick calls, two 4xx; and an outage 3 hours ago, outside the window.
        [call("svc_steady", 1 + n % 50) for n in range(198)]
        + [call("svc_steady", 2, status=404) for _ in range(2)]
        + [call("svc_steady", 180, status=500) for _ in range(50)]
        # flaky: 7 answers in 100 are 5xx, one of them a refusal before any generation.
        + [call("svc_flaky", n % 40, status=500 if n < 6 else 200) for n in range(99)]
        + [call("svc_flaky", 3, status=503, generation=None)]
        # slow: every call takes 2 s, and those of 20 minutes ago 6 s.
        + [call("svc_slow", 5, latency_ms=2000.0) for _ in range(30)]
        + [call("svc_slow", 20, latency_ms=6000.0) for _ in range(30)]
        # an undeployed service's calls count for nothing.
        + [call("svc_parked", 1, status=500)]
    )
    with store.writing() as session:
        fold_calls(session, calls)
    services = [
        Subject("svc_steady"), Subject("svc_flaky"), Subject("svc_quiet"),
        Subject("svc_slow"),
        Subject("svc_slow_lately", health_thresholds={"window_minutes": 10}),
        Subject("svc_parked", deployed=False),
    ]
    # The last service reads the slow one's calls, with a shorter window.
    health = service_health(store, services, NOW)
    health["svc_slow_lately"] = service_health(
        store, [Subject("svc_slow", health_thresholds={"window_minutes": 10})], NOW
    )["svc_slow"]
    assert {key: value.status for key, value in health.items()} == {
        "svc_steady": "passing", "svc_flaky": "failing", "svc_quiet": "unknown",
        "svc_slow": "failing", "svc_slow_lately": "warning", "svc_parked": "unknown",
    }
    assert health["svc_flaky"].reasons == (
        "server_error_rate 7.0% over the failing threshold 5%",)
    assert health["svc_quiet"].reasons == ("no calls in the last 60 minutes",)
    assert health["svc_parked"].reasons == ("not deployed",)
    assert health["svc_slow_lately"].window_minutes == 10
    assert health["svc_slow_lately"].reasons[0].startswith("response_time p90 19")

    stats = ServiceStats(store)
    for subject in services[:4]:
        thresholds = thresholds_of(subject)
        overall = stats.summary(subject.id, recent_window(60, NOW),
                                slow_ms=thresholds.slow_request_ms)["overall"]
        assert health_of(overall, thresholds) == health[subject.id], subject.id
    # In a session of the caller's too.
    with store.reading() as session:
        assert service_health(session, services[:2], NOW) == {
            key: health[key] for key in ("svc_steady", "svc_flaky")}
