"""Run an edge agent under the real service runner while a test's scenario plays against it."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable

from guardian.runtime.service import Agent, serve


def serve_during(agent: Agent, scenario: Callable[[], Awaitable[None]]) -> int:
    """Serve ``agent`` until ``scenario`` ends, then stop it with SIGTERM (also when the scenario failed, whose
    error is raised after the agent stopped); the agent's exit code."""

    async def scenario_then_stop() -> None:
        try:
            await scenario()
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    async def run() -> int:
        task = asyncio.create_task(scenario_then_stop())
        code = await serve(agent)
        await task
        return code

    return asyncio.run(run())
