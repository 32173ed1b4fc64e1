"""The live streams' source: announced events read once per notification and encoded once as the
Server-Sent Events message every stream of the tenant sends, logins checked in batches, replays on reconnect;
and the process's :class:`~cloud.core.live.LiveHub`, fed by the bus for the app's life.

A message is ``event: event``, ``id: <cursor>``, ``data: <EventPublic JSON>``. The ``id`` is the cursor
(:mod:`cloud.services.live`), not the event id: the browser's EventSource sends the last one back as
``Last-Event-ID`` when it reconnects by itself, and the stream first replays what the tenant received since.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool

from cloud.api.event_public import to_public
from cloud.core.live import LiveHub, LiveMessage, Login
from cloud.core.state import Cloud
from cloud.services import accounts, live
from cloud.tables import Event


def message(event: Event) -> LiveMessage:
    body = to_public(event).model_dump_json()
    text = f"event: event\nid: {live.cursor_of(event.received_at)}\ndata: {body}\n\n"
    return LiveMessage(camera=event.camera, label=event.label, text=text)


class EventFeed:
    """The hub's :class:`~cloud.core.live.LiveSource`: the fan-out reads on the service pool (so browser load
    cannot hold back live delivery), one database turn per notification whatever the number of streams."""

    def __init__(self, cloud: Cloud) -> None:
        self._cloud = cloud

    async def announced(self, tenant_id: str, ids: list[str], logins: set[Login]) -> tuple[list[LiveMessage], set[Login]]:
        async with self._cloud.gates.service:
            return await run_in_threadpool(self._announced, tenant_id, ids, logins)

    def _announced(self, tenant_id: str, ids: list[str], logins: set[Login]) -> tuple[list[LiveMessage], set[Login]]:
        with self._cloud.service_sessions() as session:
            alive = accounts.logins_alive(session, logins)
            rows = live.announced(session, tenant_id, ids) if alive else []
            return [message(e) for e in rows], alive

    async def alive(self, logins: set[Login]) -> set[Login]:
        async with self._cloud.gates.service:
            return await run_in_threadpool(self._alive, logins)

    def _alive(self, logins: set[Login]) -> set[Login]:
        with self._cloud.service_sessions() as session:
            return accounts.logins_alive(session, logins)


async def opening(cloud: Cloud, login: Login, cursor: int | None, camera: str | None,
                  label: str | None) -> list[LiveMessage] | None:
    """A stream about to start: None when its login has ended, else what it must replay first (after
    ``cursor``, the browser's ``Last-Event-ID``; nothing without one). On the API pool: a browser's request."""
    async with cloud.gates.api:
        return await run_in_threadpool(_opening, cloud, login, cursor, camera, label)


def _opening(cloud: Cloud, login: Login, cursor: int | None, camera: str | None,
             label: str | None) -> list[LiveMessage] | None:
    with cloud.sessions() as session:
        if not accounts.logins_alive(session, {login}):
            return None
        if cursor is None:
            return []
        return [message(e) for e in live.received_after(session, login.tenant_id, cursor, camera, label)]


async def start_hub(cloud: Cloud) -> LiveHub:
    """The process's hub, listening to the bus until :func:`stop_hub`."""
    hub = LiveHub(EventFeed(cloud), check_every=cloud.settings.auth.stream_check_seconds)
    await hub.start()
    cloud.bus.listen(hub.notify)
    return hub


async def stop_hub(cloud: Cloud, hub: LiveHub) -> None:
    cloud.bus.listen(None)
    await hub.close()


async def get_hub(request: Request) -> LiveHub:  # async: no worker-thread hop
    hub: LiveHub = request.app.state.live
    return hub


HubDep = Annotated[LiveHub, Depends(get_hub)]
