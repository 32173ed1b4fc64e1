"""What pyinfra does to each host during one rollout wave, as JSON lines: loaded BY pyinfra as its config file
(``pyinfra --config fleet/events.py …``, run by fleet/wave.py), so the record starts before pyinfra connects and
survives pyinfra stopping half-way (its ``--fail-percent``), when its ``--json`` results are never printed and
hosts it could not reach would be missing from them anyway.

Written to the file named by ``GUARDIAN_ROLLOUT_EVENTS`` (nothing is recorded without it):

    {"event": "connected", "host": H}
    {"event": "unreachable", "host": H, "detail": "<pyinfra's connect error>"}   before it ever connected
    {"event": "reconnect_error", "host": H, "detail": "…"}   after it had connected: a reconnect that failed
        (an image update reconnects while the box reboots, tasks/image_update.py): not unreachable
    {"event": "planned", "host": H, "ops": ["<operation name>", …]}   once per host, before the first operation runs
    {"event": "op", "host": H, "op": "<operation name>", "ok": true | false}
"""

from __future__ import annotations

import json
import os
from typing import Any

from pyinfra.api.state import BaseStateCallback, State
from pyinfra.context import ctx_state


class _Recorder(BaseStateCallback):
    """pyinfra calls these from its greenlets (one OS thread): each line is written and flushed whole."""

    def __init__(self, path: str) -> None:
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 (open for the life of the pyinfra process)
        self.planned = False
        self.connected: set[str] = set()

    def write(self, **event: Any) -> None:
        self.out.write(json.dumps(event) + "\n")
        self.out.flush()

    def host_connect(self, state, host) -> None:  # type: ignore[override]
        self.connected.add(host.name)
        self.write(event="connected", host=host.name)

    def host_connect_error(self, state, host, error) -> None:  # type: ignore[override]
        event = "reconnect_error" if host.name in self.connected else "unreachable"
        self.write(event=event, host=host.name, detail=str(error))

    def operation_start(self, state, op_hash) -> None:  # type: ignore[override]
        if not self.planned:  # the operations are all known now: what each host is going to run
            self.planned = True
            for host in state.inventory.get_active_hosts():
                self.write(event="planned", host=host.name, ops=[_name(state, h) for h in state.get_op_order()
                                                                 if h in state.ops[host]])

    def operation_host_success(self, state, host, op_hash, retry_count=0) -> None:  # type: ignore[override]
        self.write(event="op", host=host.name, op=_name(state, op_hash), ok=True)

    def operation_host_error(self, state, host, op_hash, retry_count=0, max_retries=0) -> None:  # type: ignore[override]
        self.write(event="op", host=host.name, op=_name(state, op_hash), ok=False)


def _name(state, op_hash: str) -> str:
    return ", ".join(sorted(state.get_op_meta(op_hash).names))


def _record_into(state: State, recorder: _Recorder) -> None:
    """pyinfra (3.10) makes a state's list of callback handlers in ``State.init``, which runs after this config
    file and before any host is connected: add the recorder right there."""
    init = state.init

    def init_then_record(*args: Any, **kwargs: Any) -> None:
        init(*args, **kwargs)
        state.add_callback_handler(recorder)

    setattr(state, "init", init_then_record)  # noqa: B010 (mypy refuses assigning to a method)


if os.environ.get("GUARDIAN_ROLLOUT_EVENTS"):
    _record_into(ctx_state.get(), _Recorder(os.environ["GUARDIAN_ROLLOUT_EVENTS"]))
