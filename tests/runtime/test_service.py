"""The service runner: exit codes systemd can act on, cleanup always runs, watchdog tied to progress."""

from __future__ import annotations

import asyncio

import pytest

from guardian.runtime.errors import EX_CONFIG, EX_SOFTWARE, ConfigError
from guardian.runtime.service import ServiceContext, serve
from guardian.runtime.systemd import Notifier, Watchdog


class RecordingNotifier(Notifier):
    def __init__(self) -> None:
        self.enabled = True
        self._notifier = None
        self.sent: list[str] = []

    def _send(self, message: str) -> None:
        self.sent.append(message.split("\n")[0])


class FailingAgent:
    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed = False

    async def start(self, ctx: ServiceContext) -> None:
        ctx.tasks.create_task(self._fail())

    async def _fail(self) -> None:
        await asyncio.sleep(0.05)
        raise self.error

    async def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    ("error", "code"),
    [(RuntimeError("boom"), EX_SOFTWARE), (ConfigError("x.toml", ["a: bad"]), EX_CONFIG)],
)
def test_crashing_task_ends_agent_with_exit_code_and_cleanup(error, code):
    agent = FailingAgent(error)
    notifier = RecordingNotifier()
    assert asyncio.run(serve(agent, notifier)) == code
    assert agent.closed
    assert notifier.sent == ["READY=1", "STOPPING=1"]


def test_watchdog_pings_only_while_progress_arrives():
    notifier = RecordingNotifier()
    watchdog = Watchdog(notifier, interval=0.02, stale_after=0.1)

    async def scenario() -> tuple[int, int]:
        task = asyncio.create_task(watchdog.run())
        for _ in range(10):  # 0.2 s of steady progress
            watchdog.progress()
            await asyncio.sleep(0.02)
        while_progressing = notifier.sent.count("WATCHDOG=1")
        await asyncio.sleep(0.3)  # the loop is wedged: no progress
        before = notifier.sent.count("WATCHDOG=1")
        await asyncio.sleep(0.2)
        task.cancel()
        return while_progressing, notifier.sent.count("WATCHDOG=1") - before

    pings_while_progressing, pings_while_stalled = asyncio.run(scenario())
    assert pings_while_progressing >= 3
    assert pings_while_stalled == 0
