"""The real Prefect flow, once, on a session-scoped test harness (it costs ~10 s to start)."""

import pytest

from warehouse.db import open_warehouse


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_daily_flow_runs_tasks_and_writes_reports(prefect_harness, fake_cg, settings):
    from flows.daily import daily_flow

    fake_cg.serve()
    result = daily_flow()
    assert result.as_of_date.isoformat() == "2024-04-03"
    with open_warehouse(settings.db, read_only=True) as wh:
        assert wh.scalar("SELECT count(*) FROM report_daily") == len(result.reports) == 4
        assert wh.scalar("SELECT count(*) FROM runs WHERE status='ok'") == 1
