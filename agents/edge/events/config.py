"""The ``[detection.events]`` section: the event manager reads it as is (its one definition)."""

from __future__ import annotations

from pydantic import Field

from guardian.runtime.config import Section


class EventsSection(Section):
    pre_roll_s: float = Field(5.0, ge=0, description="Seconds of video before the event in its clip.")
    post_roll_s: float = Field(5.0, ge=0, description="Seconds of video after the event in its clip.")
