import datetime
from collections.abc import Iterable as _Iterable
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper

DESCRIPTOR: _descriptor.FileDescriptor

class Confidence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIDENCE_UNSPECIFIED: _ClassVar[Confidence]
    CONFIDENCE_LOW: _ClassVar[Confidence]
    CONFIDENCE_MEDIUM: _ClassVar[Confidence]
    CONFIDENCE_HIGH: _ClassVar[Confidence]
CONFIDENCE_UNSPECIFIED: Confidence
CONFIDENCE_LOW: Confidence
CONFIDENCE_MEDIUM: Confidence
CONFIDENCE_HIGH: Confidence

class EventSummary(_message.Message):
    __slots__ = ("camera", "confidence", "device_id", "end", "event_id", "has_clip", "label", "start")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    HAS_CLIP_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    device_id: str
    camera: str
    label: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    confidence: Confidence
    has_clip: bool
    def __init__(self, event_id: str | None = ..., device_id: str | None = ..., camera: str | None = ..., label: str | None = ..., start: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., end: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., confidence: Confidence | str | None = ..., has_clip: bool | None = ...) -> None: ...

class CameraHealth(_message.Message):
    __slots__ = ("camera", "last_frame_at", "state")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AT_FIELD_NUMBER: _ClassVar[int]
    camera: str
    state: str
    last_frame_at: _timestamp_pb2.Timestamp
    def __init__(self, camera: str | None = ..., state: str | None = ..., last_frame_at: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ...) -> None: ...

class DeviceHealth(_message.Message):
    __slots__ = ("agent_version", "cameras", "device_id", "last_seen", "reason", "status")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[DeviceHealth.Status]
        HEALTHY: _ClassVar[DeviceHealth.Status]
        DEGRADED: _ClassVar[DeviceHealth.Status]
        OFFLINE: _ClassVar[DeviceHealth.Status]
        REVOKED: _ClassVar[DeviceHealth.Status]
    STATUS_UNSPECIFIED: DeviceHealth.Status
    HEALTHY: DeviceHealth.Status
    DEGRADED: DeviceHealth.Status
    OFFLINE: DeviceHealth.Status
    REVOKED: DeviceHealth.Status
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    status: DeviceHealth.Status
    last_seen: _timestamp_pb2.Timestamp
    cameras: _containers.RepeatedCompositeFieldContainer[CameraHealth]
    agent_version: str
    reason: str
    def __init__(self, device_id: str | None = ..., status: DeviceHealth.Status | str | None = ..., last_seen: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., cameras: _Iterable[CameraHealth | _Mapping] | None = ..., agent_version: str | None = ..., reason: str | None = ...) -> None: ...

class ArchiveRecord(_message.Message):
    __slots__ = ("cid", "device_id", "event_id", "size", "stored_at")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    STORED_AT_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    device_id: str
    cid: str
    size: int
    stored_at: _timestamp_pb2.Timestamp
    def __init__(self, event_id: str | None = ..., device_id: str | None = ..., cid: str | None = ..., size: int | None = ..., stored_at: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ...) -> None: ...

class IngestBatch(_message.Message):
    __slots__ = ("archives", "events", "health", "relay_id")
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    ARCHIVES_FIELD_NUMBER: _ClassVar[int]
    relay_id: str
    events: _containers.RepeatedCompositeFieldContainer[EventSummary]
    health: _containers.RepeatedCompositeFieldContainer[DeviceHealth]
    archives: _containers.RepeatedCompositeFieldContainer[ArchiveRecord]
    def __init__(self, relay_id: str | None = ..., events: _Iterable[EventSummary | _Mapping] | None = ..., health: _Iterable[DeviceHealth | _Mapping] | None = ..., archives: _Iterable[ArchiveRecord | _Mapping] | None = ...) -> None: ...

class IngestResult(_message.Message):
    __slots__ = ("archives_accepted", "events_accepted", "events_duplicate", "health_accepted")
    EVENTS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    events_accepted: int
    events_duplicate: int
    health_accepted: int
    archives_accepted: int
    def __init__(self, events_accepted: int | None = ..., events_duplicate: int | None = ..., health_accepted: int | None = ..., archives_accepted: int | None = ...) -> None: ...
