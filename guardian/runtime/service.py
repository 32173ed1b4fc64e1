"""The asyncio service runner every agent uses.

One ``TaskGroup`` holds the agent's long-running tasks. SIGTERM and SIGINT begin a clean shutdown:
systemd is told ``STOPPING=1``, the tasks are cancelled, the agent's ``close`` runs, and the process
exits 0. A task that crashes ends the whole agent with a non-zero sysexits code so systemd restarts it.
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass, field
from typing import Protocol

from guardian.runtime.errors import EX_OK, EX_SOFTWARE, GuardianError
from guardian.runtime.logging import get_logger
from guardian.runtime.systemd import Notifier, Watchdog

log = get_logger("guardian.service")


@dataclass
class ServiceContext:
    """What an agent gets to run in: its task group, the watchdog to feed, the stop signal."""

    tasks: asyncio.TaskGroup
    notifier: Notifier
    watchdog: Watchdog
    stopping: asyncio.Event = field(default_factory=asyncio.Event)


class Agent(Protocol):
    name: str

    async def start(self, ctx: ServiceContext) -> None:
        """Set up, then start long-running work with ``ctx.tasks.create_task``. READY follows."""

    async def close(self) -> None:
        """Release resources after the tasks have ended (always called, also after a crash)."""


class _Shutdown(Exception):
    """Raised inside the task group to cancel the agent's tasks on a stop signal."""


async def serve(agent: Agent, notifier: Notifier | None = None) -> int:
    notifier = notifier or Notifier()
    watchdog = Watchdog(notifier)
    loop = asyncio.get_running_loop()
    stop_requested = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop_requested.set)
    exit_code = EX_OK
    try:
        async with asyncio.TaskGroup() as tasks:
            ctx = ServiceContext(tasks=tasks, notifier=notifier, watchdog=watchdog, stopping=stop_requested)
            await agent.start(ctx)
            tasks.create_task(watchdog.run(), name="watchdog")
            notifier.ready(status=f"{agent.name} running")
            log.info("agent_ready", agent=agent.name)
            await stop_requested.wait()
            log.info("agent_stopping", agent=agent.name)
            raise _Shutdown
    except* _Shutdown:
        pass
    except* GuardianError as group:
        first = group.exceptions[0]
        log.error("agent_failed", agent=agent.name, error=str(first))
        exit_code = getattr(first, "exit_code", EX_SOFTWARE)
    except* Exception as group:
        log.error("agent_crashed", agent=agent.name, exc_info=group.exceptions[0])
        exit_code = EX_SOFTWARE
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        notifier.stopping()
        await agent.close()
    log.info("agent_stopped", agent=agent.name, exit_code=exit_code)
    return exit_code


def run_agent(agent: Agent) -> int:
    """Run ``agent`` until it is stopped; returns the process exit code."""
    return asyncio.run(serve(agent))
