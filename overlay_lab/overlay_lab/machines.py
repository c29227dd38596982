"""Lab hosts that are whole Debian machines: ``systemd-nspawn --boot`` in the lab's namespaces.

``MachineHosts`` implements ``network.LabHosts`` on the same ``HostLink``s as the namespace
hosts: the network part is the same (a namespace and a veth pair to the router), and inside it a
machine boots with its own root filesystem (an overlayfs clone of the base image that
``tools/build_base_image.sh`` builds once), dpkg database, /etc, users, systemd as PID 1,
journald and sshd. Each clone gets its own machine-id and SSH host keys.

What this machine needs (TOOLCHAIN.md, "Real Debian hosts in the lab"):
- each nspawn starts from its own cgroup (else a poweroff hangs for minutes);
- ``CAP_NET_ADMIN`` for /dev/net/tun;
- exit status 133 is a reboot: the boot loop starts the machine again.

The machines get this repository's ROS 2 environment read-only at the same paths (the venv,
its interpreter, the source tree and install space), so the ROS 2 wheels run inside without a
second download. Nothing else reaches them: the lab has no route out.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from overlay_monitor.errors import LabError
from overlay_monitor.files import write_atomic

from . import proc
from .network import HostLink, NamespaceHosts
from .proc import Binds
from .state import lab_dir

#: the exit status of systemd-nspawn when the machine rebooted
REBOOT_STATUS = 133
#: how long a machine may take from boot to sshd answering / systemd "running"
BOOT_TIMEOUT_S = 60.0
#: where the lab's SSH key and known_hosts live, inside the lab folder
SSH_DIR = "ssh"
CGROUP_ROOTS = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
#: PATH of a command run inside a machine (its own, not this machine's)
MACHINE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_IMAGE_ENV = "OVERLAY_BASE_IMAGE"


def base_image() -> Path:
    """The base image: $OVERLAY_BASE_IMAGE, else base-image next to the components' bin."""
    explicit = os.environ.get(BASE_IMAGE_ENV, "")
    if explicit:
        image = Path(explicit)
    else:
        components = os.environ.get("OVERLAY_COMPONENTS_BIN", "")
        repo = Path(__file__).resolve().parents[2]
        image = (Path(components).parent if components else repo / ".components") / "base-image"
    if not (image / ".recipe").is_file():
        raise LabError(f"no base image at {image}: build it once with "
                       "tools/build_base_image.sh (tools/setup.sh does; about 40 s)")
    return image


def ros_environment_binds() -> list[Path]:
    """Folders bound read-only into every machine at the same path: the venv, its interpreter's
    prefix, the source tree with its colcon install space, and the install spaces on
    $AMENT_PREFIX_PATH (without folders already inside another)."""
    import overlay_bringup

    candidates = [Path(sys.prefix), Path(sys.base_prefix),
                  Path(overlay_bringup.__file__).resolve().parents[1],
                  Path(__file__).resolve().parents[2],
                  *(Path(p) for p in os.environ.get("AMENT_PREFIX_PATH", "").split(":") if p)]
    resolved = sorted({p.resolve() for p in candidates if p.exists()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in resolved:
        if path != Path("/") and not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def machine_dir(namespace: str) -> Path:
    prefix = namespace.split("-", 1)[0]
    return lab_dir(prefix) / "machines" / namespace


def machine_root(namespace: str) -> Path:
    return machine_dir(namespace) / "root"


def ssh_key(prefix: str) -> Path:
    """The lab's SSH key (root on every machine accepts it)."""
    return lab_dir(prefix) / SSH_DIR / "id_ed25519"


def known_hosts(prefix: str) -> Path:
    return lab_dir(prefix) / SSH_DIR / "known_hosts"


def _cgroups(namespace: str) -> list[Path]:
    prefix = namespace.split("-", 1)[0]
    return [root / f"overlay-lab-{prefix}" / namespace for root in CGROUP_ROOTS if root.is_dir()]


def _ensure_ssh_key(prefix: str) -> Path:
    key = ssh_key(prefix)
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.parent.chmod(0o700)
        proc.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"overlay-lab-{prefix}",
                  "-f", str(key)])
    return key


def _boot_script(namespace: str, root: Path) -> list[str]:
    """argv of the boot loop: join the machine's own cgroups, boot; boot again on 133."""
    binds = [f"--bind-ro={p}" for p in ros_environment_binds()]
    nspawn = ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "--boot",
              "--console=passive", "--capability=CAP_NET_ADMIN",
              f"--network-namespace-path=/run/netns/{namespace}", "-M", namespace,
              "-D", str(root), *binds]
    joins = "".join(f'echo $$ > "{cg}/cgroup.procs" && ' for cg in _cgroups(namespace))
    script = (f'{joins}while :; do "$@"; rc=$?; [ "$rc" -eq {REBOOT_STATUS} ] || exit "$rc"; '
              'echo "overlay-lab: $(date +%T.%N) reboot"; done')
    return ["sh", "-c", script, "boot", *nspawn]


class MachineHosts:
    """Hosts that are systemd-nspawn machines in the lab's namespaces."""

    def __init__(self) -> None:
        self._network = NamespaceHosts()

    # --- LabHosts -------------------------------------------------------------------------
    def make(self, router_namespace: str, link: HostLink) -> None:
        self._network.make(router_namespace, link)
        prefix = link.namespace.split("-", 1)[0]
        root = self._clone(link.namespace)
        self.write_etc(link.namespace, link.etc)
        key = _ensure_ssh_key(prefix)
        ssh = root / "root" / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        write_atomic(ssh / "authorized_keys", key.with_suffix(".pub").read_text(), mode=0o600)
        host_key = (root / "etc" / "ssh" / "ssh_host_ed25519_key.pub").read_text().split()
        with open(known_hosts(prefix), "a", encoding="utf-8") as out:
            out.write(f"{link.ip} {host_key[0]} {host_key[1]}\n")
        self.boot(link.namespace)

    def exec_argv(self, namespace: str, argv: list[str], binds: Binds = ()) -> list[str]:
        if list(binds):
            raise LabError(f"{namespace} is a machine with its own files: nothing is "
                           "bind-mounted into its commands")
        return ["nsenter", "--target", str(self.leader(namespace)), "--all", "env", "-i",
                f"PATH={MACHINE_PATH}", "LANG=C.UTF-8", "HOME=/root", *argv]

    def write_etc(self, namespace: str, files: Mapping[str, str]) -> None:
        etc = machine_root(namespace) / "etc"
        for name, text in files.items():
            if name == "machine-id":
                continue  # its own, made with the clone
            target = etc / name
            if target.is_symlink():  # resolv.conf may point into /run
                target.unlink()
            write_atomic(target, text, mode=0o644)

    def readdress(self, router_namespace: str, link: HostLink, new_ip: str,
                  new_router_ip: str) -> None:
        self._network.readdress(router_namespace, link, new_ip, new_router_ip)

    def stop(self, prefix: str) -> list[str]:
        """Power off every machine of the lab and unmount its root."""
        stopped = []
        machines = lab_dir(prefix) / "machines"
        for folder in sorted(machines.glob(f"{prefix}-*")) if machines.is_dir() else []:
            self.power_off(folder.name)
            root = folder / "root"
            if os.path.ismount(root) and proc.run_result(["umount", str(root)]).returncode:
                proc.run_result(["umount", "-l", str(root)])
            shutil.rmtree(folder, ignore_errors=True)
            stopped.append(f"machine {folder.name}")
        for cgroup_root in CGROUP_ROOTS:
            _remove_cgroup_tree(cgroup_root / f"overlay-lab-{prefix}")
        return stopped

    def remove(self, prefix: str) -> list[str]:
        return self.stop(prefix) + self._network.remove(prefix)

    # --- machines -------------------------------------------------------------------------
    def _clone(self, namespace: str) -> Path:
        folder = machine_dir(namespace)
        upper, work, root = folder / "upper", folder / "work", folder / "root"
        for path in (upper, work, root):
            path.mkdir(parents=True, exist_ok=True)
        proc.run(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={base_image()},upperdir={upper},workdir={work}", str(root)])
        write_atomic(root / "etc" / "machine-id", proc.run(["systemd-id128", "new"]), mode=0o444)
        proc.run(["ssh-keygen", "-A", "-f", str(root)])
        # the bound interpreter may live under /root (pyenv): let other users traverse it
        if Path(sys.base_prefix).resolve().is_relative_to("/root"):
            (root / "root").chmod(0o711)
        return root

    def boot(self, namespace: str) -> None:
        """Start the machine's boot loop; return once sshd and systemd are up."""
        for cgroup in _cgroups(namespace):
            cgroup.mkdir(parents=True, exist_ok=True)
        log = machine_dir(namespace) / "boot.log"
        loop = proc.start(_boot_script(namespace, machine_root(namespace)), log)
        write_atomic(machine_dir(namespace) / "boot.pid", f"{loop.pid}\n")
        self.wait_running(namespace, previous_leader=0)

    def loop_pid(self, namespace: str) -> int:
        path = machine_dir(namespace) / "boot.pid"
        if not path.exists():
            raise LabError(f"{namespace} is not a machine of a running lab (no {path})")
        return int(path.read_text())

    def leader_or_zero(self, namespace: str) -> int:
        """PID 1 of the machine as this machine sees it (0 while it is between boots)."""
        for nspawn in proc.children(self.loop_pid(namespace)):
            for leader in proc.children(nspawn):
                return leader
        return 0

    def leader(self, namespace: str) -> int:
        leader = self.leader_or_zero(namespace)
        if not leader:
            raise LabError(f"machine {namespace} is not running (booting, or powered off: see "
                           f"{machine_dir(namespace) / 'boot.log'})")
        return leader

    def wait_running(self, namespace: str, previous_leader: int,
                     timeout_s: float = BOOT_TIMEOUT_S) -> float:
        """Wait for a new boot (a PID 1 other than ``previous_leader``) to reach systemd's
        "running"; the seconds it took."""
        start = time.monotonic()
        state = ""
        while time.monotonic() - start < timeout_s:
            if not proc.alive(self.loop_pid(namespace)):
                raise LabError(f"machine {namespace} stopped while booting: "
                               f"{proc.log_tail(machine_dir(namespace) / 'boot.log')}")
            leader = self.leader_or_zero(namespace)
            if leader and leader != previous_leader:
                result = proc.run_result(self.exec_argv(namespace, [
                    "systemctl", "is-system-running"]), timeout_s=10.0)
                state = result.stdout.strip()
                if state in ("running", "degraded"):
                    return time.monotonic() - start
            time.sleep(0.2)
        raise LabError(f"machine {namespace} did not finish booting in {timeout_s:g} s "
                       f"(systemd says {state or 'nothing yet'})")

    def reboot(self, namespace: str) -> float:
        """``systemctl reboot`` inside, as a user would; seconds until it runs again."""
        before = self.leader(namespace)
        proc.run_result(self.exec_argv(namespace, ["systemctl", "reboot"]))
        return self.wait_running(namespace, previous_leader=before)

    def power_off(self, namespace: str, timeout_s: float = 15.0) -> None:
        """Stop the boot loop, then power the machine off (SIGTERM to nspawn)."""
        try:
            loop = self.loop_pid(namespace)
        except LabError:
            return
        nspawns = proc.children(loop) if proc.alive(loop) else []
        proc.terminate([loop], grace_s=1.0)
        proc.terminate(nspawns, grace_s=timeout_s)


def _remove_cgroup_tree(path: Path) -> None:
    """rmdir a cgroup folder and its children, deepest first (they must be empty)."""
    if not path.is_dir():
        return
    folders = sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
    for folder in [*folders, path]:
        with contextlib.suppress(OSError):
            folder.rmdir()


MACHINES = MachineHosts()
