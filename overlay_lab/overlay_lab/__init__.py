"""overlay_lab: the developers' and CI's lab. Robots in network namespaces of this machine (or
whole Debian machines, systemd-nspawn), joined by real WireGuard or by the real Tailscale and
Headscale, behind a campus router.
It drives the product (overlay_bringup, overlay_monitor) as a user would; the product never
imports it, and robots never install it.

Pure (plans and rules, no process, no socket):
- ``topology``: names, addresses, detours; ``Overlay`` and the table of what differs by overlay;
- ``rulesets``: the router's nftables rules (WireGuard mesh, campus modes);
- ``impairments``: parsing ``r2:delay=40ms,loss=1%,rate=10mbit`` and ``--detour A-B``;
- ``state``: the state file, one robot type per overlay.

Adapters (they change the machine):
- ``proc``: the one module that runs, starts, waits for and stops processes;
- ``network``: the router and the hosts behind it (``LabHosts``; namespace hosts);
- ``machines``: the other kind of ``LabHosts``: systemd-nspawn machines on the base image;
- ``overlays``: the ``LabOverlay`` interface, with ``overlays.wireguard``,
  ``overlays.tailscale`` and ``overlays.machines`` (provisioned by Ansible);
- ``provision``: ansible-playbook from the controller, its recap and the lab's hosts inventory;
- ``machine_lab``: provision, reboot, ssh, add and retire robots of a machine lab;
- ``tailnet``: a tailnet member's tailscaled, its folders, joining;
- ``services``: headscale, derper, the peer relay, Prometheus;
- ``runner``: up, down, status, exec, and switching a running lab;
- ``detour``: the userspace delay forwarder (this kernel has no netem);
- ``wgkeys``: WireGuard key pairs;
- ``reachability``: the ping matrix;
- ``ros_demo``: discovery environments and the ROS chatter across robots;
- ``chatter``: the ROS 2 talker/listener the lab runs;
- ``idle_nodes``: an idle robot's ROS graph (discovery traffic only, for bench/fleet_scale.py);
- ``demo``: ``overlay-lab demo`` on either overlay;
- ``paths``: the three-path experiment (direct, peer relay, DERP);
- ``cli``: ``overlay-lab``.
"""
