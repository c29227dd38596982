"""zenoh-bridge with a namespace per robot (the inventory's ``namespace: robot``), on the real
components: r1 and r2 run the same node on the same topic, and a member whose bridge has no
namespace (r3, as an operator's laptop) hears each robot apart, under /r1 and /r2. Found here:
two bridges that both have a namespace do not route to each other (each prefixes its own)."""
import pytest

from overlay_bringup.discovery.model import BridgePolicy
from overlay_lab import proc
from overlay_lab.ros_demo import chatter_argv, last_json_line, zenoh_bridges
from overlay_lab.runner import lab_down, lab_up
from overlay_lab.topology import plan_lab
from overlay_testing import lab_prefix, real_components_preconditions, zenoh_preconditions

pytestmark = [pytest.mark.lab, pytest.mark.real, pytest.mark.slow]
PREFIX = lab_prefix("ozn")
RATES = {"r1": 10.0, "r2": 4.0}


@pytest.fixture(scope="module")
def namespaced():
    real_components_preconditions()
    zenoh_preconditions()
    state = lab_up(plan_lab(3, PREFIX, overlay="tailscale", campus="open")).state
    envs, bridges = {}, []
    try:
        for robot in ("r1", "r2"):  # what policy_file makes of namespace "/{robot}"
            env, started = zenoh_bridges(state, (robot,), 24, BridgePolicy(
                rule="allow", topics=("/chatter",), namespace=f"/{robot}"), settle_s=0)
            envs.update(env)
            bridges += started
        env, started = zenoh_bridges(state, ("r3",), 24, BridgePolicy())
        envs.update(env)
        bridges += started
        yield state, envs
    finally:
        proc.terminate(b.pid for b in bridges)
        lab_down(PREFIX)


def test_two_robots_with_the_same_topic_do_not_collide(namespaced):
    state, envs = namespaced
    listeners = {topic: proc.spawn(chatter_argv(state, "r3", envs["r3"], "listen", "--topic",
                                                topic, "--duration", "10"), stderr=False)
                 for topic in ("/r1/chatter", "/r2/chatter", "/chatter")}
    # r1's bridge has a namespace too: what r2 routes as r2/chatter it would route as r1/r2/…
    r1_hears_r2 = proc.spawn(chatter_argv(state, "r1", envs["r1"], "listen", "--topic",
                                          "/r2/chatter", "--duration", "10"), stderr=False)
    talkers = [proc.spawn(chatter_argv(state, robot, envs[robot], "talk", "--topic", "/chatter",
                                       "--rate", str(rate), "--duration", "10"), stderr=False)
               for robot, rate in RATES.items()]
    heard = {topic: last_json_line(p.communicate(timeout=60)[0]) for topic, p in
             listeners.items()}
    for talker in talkers:
        talker.communicate(timeout=60)
    between_robots = last_json_line(r1_hears_r2.communicate(timeout=60)[0])
    spans = {t: (h["last_s"] - h["first_s"]) if h["received"] > 1 else 0 for t, h in
             heard.items()}
    rates = {t: (heard[t]["received"] - 1) / spans[t] if spans[t] else 0 for t in heard}
    print(f"r3 hears: { {t: (h['received'], round(rates[t], 1)) for t, h in heard.items()} }")
    # each robot's stream apart, at its own rate (a collision would mix 14 Hz into both)
    assert 8.0 <= rates["/r1/chatter"] <= 11.0, heard
    assert 3.0 <= rates["/r2/chatter"] <= 5.0, heard
    assert heard["/chatter"]["received"] == 0, heard  # nothing unprefixed
    assert between_robots["received"] == 0, between_robots  # the plugin's namespace semantics
