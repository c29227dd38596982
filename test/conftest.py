"""Shared fixtures (helpers live in overlay_testing.py)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from overlay_testing import lab_preconditions, lab_prefix


@pytest.fixture(scope="session")
def lab3() -> Iterator["object"]:
    """A 3-robot lab (prefix 'ovt' + this run's tag) shared by the lab tests; removed afterwards."""
    lab_preconditions()
    from overlay_lab.runner import lab_down, lab_up
    from overlay_lab.topology import plan_lab

    plan = plan_lab(3, lab_prefix("ovt"))
    result = lab_up(plan)
    yield result.state
    lab_down(plan.prefix)
