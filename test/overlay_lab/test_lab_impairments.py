import pytest

from overlay_lab.impairments import Impairment, parse_impairment, parse_impairments
from overlay_monitor.errors import InputError


def test_impairment_parses_delay_loss_and_rate():
    robot, imp = parse_impairment("r2:delay=40ms,loss=1%,rate=10mbit")
    assert robot == "r2"
    assert imp == Impairment(delay_ms=40.0, loss_percent=1.0, rate_kbit=10_000.0)
    assert imp.describe() == "delay=40ms,loss=1%,rate=10000kbit"


def test_impairment_units_are_converted():
    assert parse_impairment("r1:delay=0.5s")[1].delay_ms == 500.0
    assert parse_impairment("r1:delay=250us")[1].delay_ms == pytest.approx(0.25)
    assert parse_impairment("r1:loss=0.5")[1].loss_percent == 0.5
    assert parse_impairment("r1:rate=1Gbit")[1].rate_kbit == 1_000_000.0


@pytest.mark.parametrize("spec, message", [
    ("r2", r"'r2' is not ROBOT:key=value"),
    ("r2:delay", r"'delay' is not key=value"),
    ("r2:delay=fast", r"delay 'fast' is not a duration"),
    ("r2:loss=150%", r"loss '150%' is not a percentage between 0 and 100"),
    ("r2:rate=10", r"rate '10' is not a positive rate"),
    ("r2:jitter=5ms", r"unknown setting 'jitter'"),
    ("r2:delay=1ms,delay=2ms", r"delay is given twice"),
    ("r2:delay=20s", r"above 10000 ms"),
])
def test_impairment_rejects_bad_spec_naming_the_value(spec, message):
    with pytest.raises(InputError, match=message):
        parse_impairment(spec)


def test_impairments_reject_a_robot_named_twice():
    with pytest.raises(InputError, match="robot 'r2' is impaired twice"):
        parse_impairments(["r2:delay=1ms", "r2:loss=1%"])


def test_impairment_none_is_detected():
    assert Impairment().is_none and Impairment().describe() == "none"
    assert not Impairment(loss_percent=0.1).is_none
