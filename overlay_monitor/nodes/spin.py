"""The life of every node (as in ros2/examples): init, spin, catch Ctrl-C and external
shutdown, destroy, try_shutdown. A bad parameter or start-up error is one fatal log line and
exit code 2, not a traceback."""
from __future__ import annotations

import faulthandler
import signal
from collections.abc import Callable

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

from ..errors import OverlayError


def run_node(name: str, make_node: Callable[[], Node], args: list[str] | None = None,
             make_executor: Callable[[], Executor] = SingleThreadedExecutor) -> int:
    # `kill -USR1 <pid>` prints every thread's stack to stderr: how a node that does not stop
    # can be diagnosed
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        executor = make_executor()
        executor.add_node(node)
        executor.spin()
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
