"""The life of every node (as in ros2/examples): init, spin, stop on Ctrl-C, SIGTERM or external
shutdown, destroy, try_shutdown. A bad parameter or start-up error is one fatal log line and
exit code 2, not a traceback.

SIGINT and SIGTERM set a flag that the spin loop checks every 0.1 s. rclpy's own handlers wake
the executor through a guard condition; seen here, a MultiThreadedExecutor sometimes kept
waiting after SIGTERM (about 1 run in 3 of the link_test node's test), so the loop does not
depend on that wake-up.
"""
from __future__ import annotations

import faulthandler
import signal
import threading
from collections.abc import Callable
from types import FrameType

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from ..errors import OverlayError

SPIN_STEP_S = 0.1


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None,
             make_executor: Callable[[], Executor] = SingleThreadedExecutor) -> int:
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how a node that does not stop
    # can be diagnosed
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    node = None
    try:
        node = make_node()
        executor = make_executor()
        executor.add_node(node)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=SPIN_STEP_S)
    except (OverlayError, ParameterException, OSError) as err:
        rclpy.logging.get_logger(name).fatal(f"cannot start: {err}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
