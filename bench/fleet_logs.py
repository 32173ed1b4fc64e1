"""Log bytes per edge per day on the WireGuard tunnel (issue #23), beside the metrics bytes of the same edge.

    .venv/bin/python bench/fleet_logs.py [--minutes 3]

The edge as shipped runs in the namespace lab (tests/observability/fleet_lab.py: recorder, detector, uplink
and the node exporter, enrolled with the relay) with its camera (the RTSP test camera looping the test
footage, at the lab config's URL) and its detection model (NanoDet, so the footage's walkers make events;
``--no-model``: none). For ``--minutes`` every line its agents write (what journald would store
from their stdout) becomes a journal entry carrying the fields journald adds to a service's stdout line
(``_SYSTEMD_UNIT``, ``_PID``, ``_CMDLINE``, ``_BOOT_ID``, …), written as it is logged into a journal by
systemd-journal-remote (the lab has no journald). ``systemd-journal-upload --follow`` sends that journal from
the edge's namespace to the relay's ``systemd-journal-remote`` on the address the relay image's generator
derives from relay.toml, through the edge image's wrapper that takes the URL from the enrolment record
(tests/observability/test_fleet_logs.py runs both).

Counted: nftables counters on the relay for TCP port 19532 both ways (IP and TCP headers included), plus
WireGuard's outer IPv4, UDP and data header with its tag (20 + 8 + 32 bytes per packet; its padding to 16
bytes left out): the logs' own tunnel bytes, while the uplink's traffic shares the tunnel. Then, in the same
run, the metrics as bench/fleet_tunnel_bytes.py measures them (one scrape of every agent through the uplink's
proxy, as shipped), at the deployed 4-min interval: the baseline the logs are compared with.

Assumptions, printed with the figures: a 4G site's plan of 5 GB/month; one camera; a healthy edge at INFO,
however many events (they are logged at debug; a failing camera or relay logs more); systemd's and the kernel's own lines on a real appliance (boot,
DHCP renewals, time sync) are not in the lab and come on top; systemd 257's journal-upload sends the export
format uncompressed (upload compression came with 258).
Needs root, wireguard-go, prometheus, prometheus-node-exporter, systemd-journal-remote, nft, the test footage.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agents.edge.models.fetch import fetch  # noqa: E402
from agents.edge.models.store import ModelStore  # noqa: E402
from bench.fleet_tunnel_bytes import (  # noqa: E402
    AGENTS,
    BUDGET_BYTES_PER_MONTH,
    EDGE_INTERVAL_S,
    measure,
    per_day,
    per_scrape,
)
from guardian.runtime.logging import syslog_priority  # noqa: E402
from tests.conftest import FakeCamera  # noqa: E402
from tests.observability.fleet_lab import EDGE_AGENT_PORTS, enrol_edge, fleet_lab  # noqa: E402
from tests.observability.test_fleet_logs import (  # noqa: E402
    JOURNAL_REMOTE,
    remote_listen,
    upload_command,
)
from tests.relay.netlab import Lab, wait_for  # noqa: E402

WIREGUARD_OVERHEAD = 20 + 8 + 32  # outer IPv4 + UDP + WireGuard data header (16) and tag (16), per packet
LEVELS = ("debug", "info", "warning", "error", "critical")
BOOT_ID = secrets.token_hex(16)
MACHINE_ID = secrets.token_hex(16)
CACHE = Path(os.environ.get("GUARDIAN_CACHE", Path.home() / ".cache" / "guardian"))
FOOTAGE = CACHE / "vtest.mp4"


class JournalOfAgents:
    """Each new line of the edge agents' logs, as the journal entry journald would make of it, into a journal
    file written by systemd-journal-remote (stdin in the export format)."""

    def __init__(self, lab: Lab, output: Path) -> None:
        self.lab = lab
        self.proc = subprocess.Popen([str(JOURNAL_REMOTE), f"--output={output}", "-"], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.offsets = {agent: lab.logs[agent].stat().st_size for agent in EDGE_AGENT_PORTS}  # steady state only
        self.fields = {agent: self._trusted_fields(agent, pid) for pid, agent in enumerate(EDGE_AGENT_PORTS, 400)}
        self.entries = 0
        self.events: dict[str, int] = {}
        self.message_bytes = 0
        self.export_bytes = 0
        self.seqnum = 1000
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True)

    @staticmethod
    def _trusted_fields(agent: str, pid: int) -> str:
        unit = f"guardian-edge-{agent}.service"
        return (f"_BOOT_ID={BOOT_ID}\n_MACHINE_ID={MACHINE_ID}\n_HOSTNAME=guardian-edge-3f9c2a\n_RUNTIME_SCOPE=system\n"
                f"_TRANSPORT=stdout\nSYSLOG_FACILITY=3\nSYSLOG_IDENTIFIER=guardian-edge\n_PID={pid}\n_UID=61184\n"
                f"_GID=61184\n_COMM=guardian-edge\n_EXE=/usr/lib/guardian/bin/python3.13\n"
                f"_CMDLINE=/usr/lib/guardian/bin/python3 /usr/bin/guardian-edge {agent} run -c /etc/guardian/edge.toml\n"
                f"_CAP_EFFECTIVE=0\n_SYSTEMD_CGROUP=/system.slice/{unit}\n_SYSTEMD_UNIT={unit}\n"
                f"_SYSTEMD_SLICE=system.slice\n_SYSTEMD_INVOCATION_ID={secrets.token_hex(16)}\n"
                f"_STREAM_ID={secrets.token_hex(16)}\n")

    def entry(self, agent: str, line: str) -> bytes:
        self.seqnum += 1
        level = next((name for name in LEVELS if f'"level": "{name}"' in line or f'"level":"{name}"' in line), "info")
        now = time.time_ns() // 1000
        text = (f"__REALTIME_TIMESTAMP={now}\n__MONOTONIC_TIMESTAMP={time.monotonic_ns() // 1000}\n"
                f"__SEQNUM={self.seqnum}\n__SEQNUM_ID={MACHINE_ID}\n{self.fields[agent]}"
                f"PRIORITY={syslog_priority(logging.getLevelName(level.upper()))}\nMESSAGE={line}\n\n")
        self.message_bytes += len(line.encode())
        event = line.split('"event": "', 1)[-1].split('"', 1)[0] if '"event": "' in line else line[:40]
        self.events[f"{agent}:{event}"] = self.events.get(f"{agent}:{event}", 0) + 1
        return text.encode()

    def write(self, agent: str, line: str) -> None:
        data = self.entry(agent, line)
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        self.entries += 1
        self.export_bytes += len(data)

    def _follow(self) -> None:
        pending = dict.fromkeys(EDGE_AGENT_PORTS, b"")
        while not self.stop.wait(0.5):
            for agent in EDGE_AGENT_PORTS:
                with self.lab.logs[agent].open("rb") as f:
                    f.seek(self.offsets[agent])
                    chunk = f.read()
                self.offsets[agent] += len(chunk)
                *lines, pending[agent] = (pending[agent] + chunk).split(b"\n")
                for line in lines:
                    if line.strip():
                        self.write(agent, line.decode(errors="replace"))

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def nft(lab: Lab, *args: str) -> str:
    return subprocess.run(["ip", "netns", "exec", lab.ns_relay, "nft", *args], check=True, capture_output=True,
                          text=True).stdout


def count_journal_port(lab: Lab, port: int) -> None:
    """nftables counters in the relay's namespace for the journal's TCP port, both directions."""
    nft(lab, "add", "table", "inet", "bench")
    for chain, hook, match in (("in", "input", "dport"), ("out", "output", "sport")):
        nft(lab, "add", "chain", "inet", "bench", chain, f"{{ type filter hook {hook} priority 0; }}")
        nft(lab, "add", "rule", "inet", "bench", chain, "tcp", match, str(port), "counter")


def journal_port_bytes(lab: Lab) -> tuple[int, int]:
    """(IP bytes, packets) both ways so far."""
    text = nft(lab, "list", "table", "inet", "bench")
    total_bytes = total_packets = 0
    for line in text.splitlines():
        if "counter packets" in line:
            words = line.split()
            total_packets += int(words[words.index("packets") + 1])
            total_bytes += int(words[words.index("bytes") + 1])
    return total_bytes, total_packets


def edge_events(lab: Lab) -> int:
    with sqlite3.connect(lab.edge_db, timeout=10) as db:
        return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]


def shipped_entries(directory: Path) -> int:
    out = subprocess.run(["journalctl", f"--directory={directory}", "-o", "cat", "--no-pager"], capture_output=True,
                         text=True).stdout
    return out.count("\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="how long the edge's logs are shipped")
    parser.add_argument("--window", type=float, default=10.0, help="seconds per metrics window (the baseline)")
    parser.add_argument("--lines", type=int, default=30, help="agent lines sent again to measure one entry's cost")
    parser.add_argument("--gap", type=float, default=2.0, help="seconds between those lines sent one at a time")
    parser.add_argument("--no-model", action="store_true", help="no detection model (no events): the recorder only")
    args = parser.parse_args()
    budget_day = BUDGET_BYTES_PER_MONTH / 30
    with tempfile.TemporaryDirectory() as tmp, fleet_lab(Path(tmp), show_logs=False) as lab:
        camera = FakeCamera(FOOTAGE, mounts=("/front",), netns=lab.ns_edge, port=8554)
        camera.start()
        try:
            enrol_edge(lab)
            wait_for(lambda: b"stream_open" in lab.logs["recorder"].read_bytes(), 60, "the recorder to open its camera", 0.5)
            if not args.no_model:  # as shipped: the detector has its model and the footage's walkers make events
                store = ModelStore(lab.dir / "models")
                fetch(store, "nanodet", CACHE)
                store.activate("nanodet")
                wait_for(lambda: b"stream_open" in lab.logs["detector"].read_bytes(), 300, "the detector at work", 1)
            events_before = edge_events(lab)
            listen = remote_listen(lab)
            received = lab.dir / "relay-journal"
            received.mkdir()
            count_journal_port(lab, int(listen.rsplit(":", 1)[1]))
            lab._start("journal-remote", lab.ns_relay, [str(JOURNAL_REMOTE), f"--listen-http={listen}",
                                                        f"--output={received}/", "--split-mode=host"])
            address, port = listen.rsplit(":", 1)
            wait_for(lambda: lab.port_open(lab.ns_edge, address, int(port)), 30, "journal-remote on the tunnel")
            edge_journal = lab.dir / "edge-journal"
            edge_journal.mkdir()
            journal = JournalOfAgents(lab, edge_journal / "system.journal")
            journal.write("uplink", '{"event": "bench_start", "level": "info"}')
            wait_for(lambda: (edge_journal / "system.journal").exists(), 30, "the edge's journal file")
            lab._start("journal-upload", lab.ns_edge, upload_command(lab, f"--directory={edge_journal}", "--follow=yes",
                                                                     f"--save-state={lab.dir / 'upload.state'}"))
            wait_for(lambda: shipped_entries(received) >= 1, 60, "the first entry at the relay")
            start_bytes, start_packets = journal_port_bytes(lab)  # the connection's set-up is not the steady state
            journal.thread.start()
            time.sleep(args.minutes * 60)  # the measured window: the figure is bytes per unit of time
            journal.stop.set()
            journal.thread.join()
            wait_for(lambda: shipped_entries(received) >= journal.entries, 60, "every entry at the relay", 0.5)
            end_bytes, end_packets = journal_port_bytes(lab)
            ip_bytes, packets = end_bytes - start_bytes, end_packets - start_packets
            steady_entries = journal.entries - 1  # the agents' own, without the bench's start marker
            steady_kinds = {kind: n for kind, n in journal.events.items() if kind != "uplink:bench_start"}
            events = edge_events(lab) - events_before
            # The cost of one entry on the tunnel: the agents' own start-up lines again, one alone every --gap
            # seconds (each goes out as it is logged), then all of them at once (one upload).
            lines = [(agent, line) for agent in EDGE_AGENT_PORTS
                     for line in lab.logs[agent].read_text(errors="replace").splitlines() if line.strip()][:args.lines]
            costs = {}
            for how, gap in (("alone", args.gap), ("together", 0.0)):
                before, before_packets = journal_port_bytes(lab)
                for agent, line in lines:
                    journal.write(agent, line)
                    time.sleep(gap)  # the pace the entries are logged at is what is measured
                wait_for(lambda: shipped_entries(received) >= journal.entries, 60, "every entry at the relay", 0.5)
                after, after_packets = journal_port_bytes(lab)
                costs[how] = (after - before + (after_packets - before_packets) * WIREGUARD_OVERHEAD) / len(lines)
            journal.close()
            lab.stop("journal-upload")
            # Metrics, as shipped, in the same run (bench/fleet_tunnel_bytes.py): one scrape per agent.
            baseline = measure(lab, args.window)
            scrape = {agent: per_scrape(lab, agent, baseline, args.window, 1) for agent in AGENTS}
        finally:
            camera.stop()

    seconds = args.minutes * 60
    log_tunnel = ip_bytes + packets * WIREGUARD_OVERHEAD
    log_day = log_tunnel * 86400 / seconds
    metrics_day = per_day(sum(scrape.values()), EDGE_INTERVAL_S)
    detection = "no detection model" if args.no_model else f"detecting, {events} events"
    print(f"edge agents' logs over {args.minutes:.1f} min (steady state, one camera, {detection}, INFO): "
          f"{steady_entries} entries ({60 * steady_entries / seconds:.1f}/min); all entries: MESSAGE "
          f"{journal.message_bytes / journal.entries:.0f} B, export format {journal.export_bytes / journal.entries:.0f} B on average")
    print("the window's lines: " + (", ".join(f"{k[:60]} ×{v}" for k, v in steady_kinds.items()) or "none"))
    common = sorted(journal.events.items(), key=lambda kv: -kv[1])[:6]
    print(f"{len(journal.events)} kinds of line; most frequent: " + ", ".join(f"{k[:60]} ×{v}" for k, v in common))
    print(f"steady state on the tunnel: {log_tunnel} B ({packets} packets: {ip_bytes} B of IP, + WireGuard's)")
    print(f"one entry on the tunnel: {costs['alone']:.0f} B sent alone (as logged, {args.gap:.0f} s apart), "
          f"{costs['together']:.0f} B in one upload of {len(lines)}")
    for per_day_entries in (100, 500, 1440, 5000):
        b = per_day_entries * costs["alone"]
        print(f"  {per_day_entries:5d} entries/day sent as logged: {b / 1e6:5.2f} MB/day = {100 * b / budget_day:5.2f} %")
    print(f"logs    per edge and day: {log_day / 1e6:6.2f} MB = {100 * log_day / budget_day:5.2f} % of a "
          f"{BUDGET_BYTES_PER_MONTH / 1e9:.0f} GB/month 4G budget ({budget_day / 1e6:.0f} MB/day)")
    print(f"metrics per edge and day: {metrics_day / 1e6:6.2f} MB = {100 * metrics_day / budget_day:5.2f} % "
          f"(every {EDGE_INTERVAL_S} s: " + ", ".join(f"{a} {b:.0f} B" for a, b in scrape.items()) + " per scrape)")
    total = log_day + metrics_day
    print(f"together: {total / 1e6:6.2f} MB/day = {100 * total / budget_day:5.2f} % (goal < 1 %)")


if __name__ == "__main__":
    main()
