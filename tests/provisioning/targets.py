"""Real provisioning targets: a debootstrapped Debian tree booted with systemd-nspawn in its own
network namespace, reachable over SSH (what pyinfra connects to).

The tree is built once and cached under ``$GUARDIAN_CACHE/targets/`` (key: release + package list).
Each machine boots it with ``--volatile=overlay``: the cached tree stays read-only and every write
lands in a tmpfs that disappears with the machine, so targets start clean, in ~1 s, and in parallel.

Why bookworm: the host runs Python 3.11 like bookworm, so the wheels built and downloaded on the host
(cp311 for pydantic-core, cryptography, grpcio, psycopg-binary) install unchanged on the target.

Networking: only namespaces and addresses made here. A "controller" namespace (where pyinfra runs)
gets a veth to each machine that has ``uplink=True``; machines can also be linked to each other
(an edge behind its relay). Nothing is connected to the host's own network namespace, so the
machines have no route to anything but each other, and nothing we send leaves these namespaces.

    python -m tests.provisioning.targets build     # build (or check) the cached tree
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROVISIONING = REPO / "provisioning"
PYINFRA = Path(sys.executable).parent / "pyinfra"
RELEASE = "bookworm"
MIRROR = os.environ.get("GUARDIAN_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# Everything the deploys would otherwise fetch with apt: the targets have no route to the archive
# (see provisioning/README.md, "Lab targets"). Services that only some roles run are disabled in the
# tree; the deploys enable them.
PACKAGES = (
    "systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssh-server", "python3", "python3-venv",
    "iproute2", "iputils-ping", "procps", "ca-certificates", "openssl", "curl", "nftables",
    "wireguard-tools", "wireguard-go", "postgresql", "nginx-light", "prometheus", "coturn", "lego",
    "systemd-journal-remote",
)
DISABLED_UNITS = ("postgresql.service", "nginx.service", "prometheus.service", "coturn.service",
                  "prometheus-node-exporter.service", "nftables.service", "apt-daily.timer",
                  "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer", "man-db.timer",
                  "logrotate.timer", "systemd-networkd.service", "systemd-timesyncd.service")


def cache_dir() -> Path:
    return Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian")) / "targets"


def tree_key() -> str:
    digest = hashlib.sha256(" ".join((RELEASE, MIRROR, *PACKAGES, *DISABLED_UNITS, "v2")).encode()).hexdigest()
    return f"{RELEASE}-{digest[:12]}"


def _run(*cmd: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kwargs)


def build_tree(log=sys.stderr) -> Path:
    """Return the cached tree, building it with debootstrap if absent (~5-10 min cold here)."""
    final = cache_dir() / tree_key()
    if (final / ".guardian-complete").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    work = final.parent / f".build-{final.name}-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    started = time.monotonic()
    try:
        _run("debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", RELEASE, str(work), MIRROR,
             stdout=log, stderr=log)
        chroot = ("chroot", str(work))
        # Host keys for sshd (one set per tree: fine for throw-away lab machines).
        _run(*chroot, "ssh-keygen", "-A", stdout=log, stderr=log)
        for unit in DISABLED_UNITS:
            subprocess.run((*chroot, "systemctl", "disable", unit), stdout=log, stderr=log, check=False)
        _run(*chroot, "systemctl", "enable", "ssh.service", stdout=log, stderr=log)
        (work / "etc/ssh/sshd_config.d/guardian-lab.conf").write_text(
            "# Lab target: key-only root login, no DNS lookups (there is no DNS here).\n"
            "PermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n"
        )
        (work / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
        # The apt lists are not needed (no archive access) and the cache only costs space.
        _run(*chroot, "apt-get", "clean", stdout=log, stderr=log)
        (work / "etc/hostname").write_text("target\n")
        (work / ".guardian-complete").write_text(f"built in {time.monotonic() - started:.0f} s\n")
        work.rename(final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


@dataclass
class Machine:
    name: str
    address: str  # where the controller (or the jump host) reaches its sshd
    netns: str
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    behind: Machine | None = None  # the jump host (None: reachable from the controller)
    peer_address: str = ""  # the other end of its link (the controller's or the jump host's address)


class Lab:
    """A set of nspawn machines and the namespaces/veths between them; ``close()`` removes all of it
    (also after a failure half-way through ``add``)."""

    def __init__(self, workdir: Path, tree: Path | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tree = tree or build_tree()
        self.tag = secrets.token_hex(3)
        self.controller = f"gpc-{self.tag}"  # the namespace pyinfra runs in
        self.machines: dict[str, Machine] = {}
        self.netns: list[str] = []
        self._subnet = 0
        # 10.<a>.<b>.0/30 per link, with a and b random per lab: unique per run, only inside our namespaces.
        self._prefix = (secrets.randbelow(200) + 20, secrets.randbelow(16) * 16)
        key = self.workdir / "id_ed25519"
        for old in (key, key.with_suffix(".pub")):
            old.unlink(missing_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"guardian-lab-{self.tag}", "-f", str(key),
             stdin=subprocess.DEVNULL)
        self.ssh_key = key
        self.authorized_keys = self.workdir / "authorized_keys"
        shutil.copy(f"{key}.pub", self.authorized_keys)
        self.authorized_keys.chmod(0o600)
        self.tun_node = self.workdir / "tun"
        self.tun_node.unlink(missing_ok=True)
        _run("mknod", "-m", "666", str(self.tun_node), "c", "10", "200")
        try:
            self._netns_add(self.controller)
            _run("ip", "-n", self.controller, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    # -- networking --------------------------------------------------------------------------------
    def _netns_add(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self.netns.append(name)

    def _link(self, ns_a: str, ns_b: str) -> tuple[str, str]:
        """A veth pair between two namespaces with a /30; returns (address in a, address in b)."""
        n = self._subnet
        self._subnet += 1
        a, b = self._prefix
        base = f"10.{a}.{b + n // 64}.{(n % 64) * 4}"
        net = base.rsplit(".", 1)[0]
        last = int(base.rsplit(".", 1)[1])
        addr_a, addr_b = f"{net}.{last + 1}", f"{net}.{last + 2}"
        if_a, if_b = f"gp{self.tag}{n}a", f"gp{self.tag}{n}b"
        _run("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", if_b, "netns", ns_b)
        for ns, ifname, addr in ((ns_a, if_a, addr_a), (ns_b, if_b, addr_b)):
            _run("ip", "-n", ns, "addr", "add", f"{addr}/30", "dev", ifname)
            _run("ip", "-n", ns, "link", "set", ifname, "up")
        return addr_a, addr_b

    # -- machines ----------------------------------------------------------------------------------
    def add(self, role: str, behind: str | None = None) -> Machine:
        """Create a namespace for a machine, linked to the controller or (``behind``) to another
        machine only, and boot it."""
        netns = f"gpm-{self.tag}-{role}"[:30]
        self._netns_add(netns)
        _run("ip", "-n", netns, "link", "set", "lo", "up")
        upstream = self.controller if behind is None else self.machines[behind].netns
        peer_address, address = self._link(upstream, netns)
        machine = Machine(name=f"g{self.tag}{role}"[:30], address=address, netns=netns,
                          behind=None if behind is None else self.machines[behind], peer_address=peer_address)
        self.machines[role] = machine
        self._boot(machine)
        return machine
    def add_unreachable(self, role: str, behind: str) -> Machine:
        """A machine that is only a name: its address lies in a /30 of this lab that nothing holds, so
        connecting to it through ``behind`` fails at once (no route), like an edge that is switched off."""
        n = self._subnet
        self._subnet += 1
        a, b = self._prefix
        machine = Machine(name=f"g{self.tag}{role}"[:30], address=f"10.{a}.{b + n // 64}.{(n % 64) * 4 + 2}",
                          netns="", behind=self.machines[behind])
        self.machines[role] = machine
        return machine

    def connect(self, role_a: str, role_b: str) -> tuple[str, str]:
        """A direct link between two machines (e.g. relay ↔ cloud); returns (address of a, address of b)."""
        return self._link(self.machines[role_a].netns, self.machines[role_b].netns)

    # (``add`` may fail half-way: everything made so far is in self.netns/self.machines, which close() removes.)

    def _boot(self, m: Machine) -> None:
        m.log_path = self.workdir / f"{m.name}.console.log"
        log = m.log_path.open("wb")
        cmd = [
            "systemd-nspawn", "-q", "--register=no", "--keep-unit", "--console=read-only", "-b",
            "-D", str(self.tree), f"--machine={m.name}", f"--hostname={m.name}",
            "--volatile=overlay", f"--network-namespace-path=/run/netns/{m.netns}",
            f"--bind-ro={self.authorized_keys}:/root/.ssh/authorized_keys",
            # wireguard-go (the relay's hub) needs the TUN device, world-accessible as on a normal
            # host (the agent runs as a dynamic user); our own node, so the host's is not touched.
            f"--bind={self.tun_node}:/dev/net/tun", "--capability=CAP_NET_ADMIN",
        ]
        m.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def ssh_base(self, m: Machine) -> list[str]:
        cmd = ["ip", "netns", "exec", self.controller, "ssh", "-i", str(self.ssh_key),
               "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-o", "BatchMode=yes"]
        jump = m.behind
        if jump is not None:
            cmd += ["-o", f"ProxyCommand={' '.join(self.ssh_base(jump)[4:])} -W %h:%p root@{jump.address}"]
        return cmd

    def ssh(self, m: Machine, command: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([*self.ssh_base(m), f"root@{m.address}", command], capture_output=True,
                              text=True, check=check, timeout=timeout)

    def wait_ssh(self, m: Machine, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if m.process is not None and m.process.poll() is not None:
                raise RuntimeError(f"{m.name} exited ({m.process.returncode}); see {m.log_path}")
            r = self.ssh(m, "systemctl is-system-running --wait >/dev/null 2>&1; true", check=False, timeout=60)
            if r.returncode == 0:
                return
            last = r.stderr
            time.sleep(1)
        raise TimeoutError(f"{m.name}: no SSH after {timeout} s: {last}")

    def ssh_config(self) -> Path:
        """An ssh_config naming every machine by its role (edges through their jump host)."""
        path = self.workdir / "ssh_config"
        blocks = []
        for role, m in self.machines.items():
            lines = [f"Host {role}", f"    HostName {m.address}", "    User root", f"    IdentityFile {self.ssh_key}",
                     "    StrictHostKeyChecking no", "    UserKnownHostsFile /dev/null", "    LogLevel ERROR",
                     "    ConnectTimeout 20"]
            if m.behind is not None:
                jump = next(r for r, o in self.machines.items() if o is m.behind)
                lines.append(f"    ProxyJump {jump}")
            blocks.append("\n".join(lines))
        path.write_text("\n\n".join(blocks) + "\n")
        return path

    def write_inventory(self, groups: dict[str, list[list[object]]]) -> Path:
        """The JSON that provisioning/inventories/lab.py reads (``GUARDIAN_LAB``): per group, [name, data] pairs."""
        path = self.workdir / "lab.json"
        path.write_text(json.dumps({"ssh_config": str(self.ssh_config()), **groups}, indent=2))
        return path

    def pyinfra(self, *args: str, env: dict[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
        """Run the pyinfra CLI inside the controller namespace, from provisioning/."""
        return subprocess.run(["ip", "netns", "exec", self.controller, str(PYINFRA), *args],
                              cwd=PROVISIONING, env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=timeout)

    def controller_run(self, cmd: list[str], check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        """A command in the controller's namespace: from outside every machine, as a client on the network."""
        return subprocess.run(["ip", "netns", "exec", self.controller, *cmd], capture_output=True, text=True,
                              check=check, timeout=timeout)

    def close(self) -> None:
        for m in self.machines.values():
            p = m.process
            if p is None or p.poll() is not None:
                continue
            # SIGRTMIN+3 to nspawn asks the container's systemd to power off; then TERM, then KILL.
            try:
                os.kill(p.pid, signal.SIGTERM)
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
            except ProcessLookupError:
                pass
        for ns in reversed(self.netns):
            # Deleting a namespace deletes the veth ends in it (and their peers).
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)
        self.netns.clear()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()




if __name__ == "__main__":
    if sys.argv[1:] == ["build"]:
        t0 = time.monotonic()
        print(build_tree(), f"({time.monotonic() - t0:.0f} s)")
    else:
        sys.exit(__doc__)
