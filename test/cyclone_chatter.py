"""A Cyclone DDS talker or listener (the `cyclonedds` binding, which carries libddsc) for the
lab tests of the generated Cyclone configuration. Reads CYCLONEDDS_URI and ROS_DOMAIN_ID like a
ROS 2 node on rmw_cyclonedds would.

    python cyclone_chatter.py talk|listen SECONDS     # listen prints one JSON line at the end
"""

import json
import os
import sys
import time
from dataclasses import dataclass

from cyclonedds.core import Policy, Qos
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration


@dataclass
class Chatter(IdlStruct, typename="overlay_test::Chatter"):
    seq: int
    text: str


def main() -> int:
    role, seconds = sys.argv[1], float(sys.argv[2])
    participant = DomainParticipant(int(os.environ.get("ROS_DOMAIN_ID", "0")))
    topic = Topic(participant, "overlay_chatter", Chatter)
    qos = Qos(Policy.Reliability.Reliable(duration(seconds=1)), Policy.History.KeepLast(10))
    start, wall = time.monotonic(), time.time()
    arrivals = []
    if role == "talk":
        writer = DataWriter(participant, topic, qos=qos)
        seq = 0
        while time.monotonic() - start < seconds:
            seq += 1
            writer.write(Chatter(seq=seq, text="hello over the overlay"))
            time.sleep(0.1)
        return 0
    reader = DataReader(participant, topic, qos=qos)
    while time.monotonic() - start < seconds:
        for _ in reader.take(N=100):
            arrivals.append(round(time.monotonic() - start, 3))
        time.sleep(0.02)
    print(json.dumps({"received": len(arrivals), "first_s": arrivals[0] if arrivals else None,
                      "first_wall": round(wall + arrivals[0], 3) if arrivals else None,
                      "arrivals_s": arrivals}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
