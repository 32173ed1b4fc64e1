import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Confidence(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONFIDENCE_UNSPECIFIED: _ClassVar[Confidence]
    CONFIDENCE_LOW: _ClassVar[Confidence]
    CONFIDENCE_MEDIUM: _ClassVar[Confidence]
    CONFIDENCE_HIGH: _ClassVar[Confidence]

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_DETECTION: _ClassVar[Severity]
    SEVERITY_ALERT: _ClassVar[Severity]
CONFIDENCE_UNSPECIFIED: Confidence
CONFIDENCE_LOW: Confidence
CONFIDENCE_MEDIUM: Confidence
CONFIDENCE_HIGH: Confidence
SEVERITY_UNSPECIFIED: Severity
SEVERITY_DETECTION: Severity
SEVERITY_ALERT: Severity

class EventSummary(_message.Message):
    __slots__ = ("event_id", "device_id", "camera", "label", "start", "end", "confidence", "has_clip", "zones", "severity", "review_item")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    HAS_CLIP_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ITEM_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    device_id: str
    camera: str
    label: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    confidence: Confidence
    has_clip: bool
    zones: _containers.RepeatedScalarFieldContainer[str]
    severity: Severity
    review_item: str
    def __init__(self, event_id: _Optional[str] = ..., device_id: _Optional[str] = ..., camera: _Optional[str] = ..., label: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confidence: _Optional[_Union[Confidence, str]] = ..., has_clip: _Optional[bool] = ..., zones: _Optional[_Iterable[str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., review_item: _Optional[str] = ...) -> None: ...

class CameraHealth(_message.Message):
    __slots__ = ("camera", "state", "last_frame_at", "fps", "bitrate_bps", "reason")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    camera: str
    state: str
    last_frame_at: _timestamp_pb2.Timestamp
    fps: float
    bitrate_bps: float
    reason: str
    def __init__(self, camera: _Optional[str] = ..., state: _Optional[str] = ..., last_frame_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fps: _Optional[float] = ..., bitrate_bps: _Optional[float] = ..., reason: _Optional[str] = ...) -> None: ...

class DeviceHealth(_message.Message):
    __slots__ = ("device_id", "status", "last_seen", "cameras", "agent_version", "reason")
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
    def __init__(self, device_id: _Optional[str] = ..., status: _Optional[_Union[DeviceHealth.Status, str]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cameras: _Optional[_Iterable[_Union[CameraHealth, _Mapping]]] = ..., agent_version: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ArchiveRecord(_message.Message):
    __slots__ = ("event_id", "device_id", "cid", "size", "stored_at")
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
    def __init__(self, event_id: _Optional[str] = ..., device_id: _Optional[str] = ..., cid: _Optional[str] = ..., size: _Optional[int] = ..., stored_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CameraConfigStatus(_message.Message):
    __slots__ = ("camera", "state", "error")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    camera: str
    state: str
    error: str
    def __init__(self, camera: _Optional[str] = ..., state: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ConfigStatus(_message.Message):
    __slots__ = ("device_id", "applied_version", "refused_version", "refused_reason", "cameras", "at", "config_key_id", "config_public_key", "mqtt")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_KEY_ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    MQTT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    applied_version: int
    refused_version: int
    refused_reason: str
    cameras: _containers.RepeatedCompositeFieldContainer[CameraConfigStatus]
    at: _timestamp_pb2.Timestamp
    config_key_id: str
    config_public_key: str
    mqtt: MqttStatus
    def __init__(self, device_id: _Optional[str] = ..., applied_version: _Optional[int] = ..., refused_version: _Optional[int] = ..., refused_reason: _Optional[str] = ..., cameras: _Optional[_Iterable[_Union[CameraConfigStatus, _Mapping]]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., config_key_id: _Optional[str] = ..., config_public_key: _Optional[str] = ..., mqtt: _Optional[_Union[MqttStatus, _Mapping]] = ...) -> None: ...

class MqttStatus(_message.Message):
    __slots__ = ("state", "error")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    state: str
    error: str
    def __init__(self, state: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class IngestBatch(_message.Message):
    __slots__ = ("relay_id", "events", "health", "archives", "config_status")
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    ARCHIVES_FIELD_NUMBER: _ClassVar[int]
    CONFIG_STATUS_FIELD_NUMBER: _ClassVar[int]
    relay_id: str
    events: _containers.RepeatedCompositeFieldContainer[EventSummary]
    health: _containers.RepeatedCompositeFieldContainer[DeviceHealth]
    archives: _containers.RepeatedCompositeFieldContainer[ArchiveRecord]
    config_status: _containers.RepeatedCompositeFieldContainer[ConfigStatus]
    def __init__(self, relay_id: _Optional[str] = ..., events: _Optional[_Iterable[_Union[EventSummary, _Mapping]]] = ..., health: _Optional[_Iterable[_Union[DeviceHealth, _Mapping]]] = ..., archives: _Optional[_Iterable[_Union[ArchiveRecord, _Mapping]]] = ..., config_status: _Optional[_Iterable[_Union[ConfigStatus, _Mapping]]] = ...) -> None: ...

class IngestResult(_message.Message):
    __slots__ = ("events_accepted", "events_duplicate", "health_accepted", "archives_accepted")
    EVENTS_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    EVENTS_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    HEALTH_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVES_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    events_accepted: int
    events_duplicate: int
    health_accepted: int
    archives_accepted: int
    def __init__(self, events_accepted: _Optional[int] = ..., events_duplicate: _Optional[int] = ..., health_accepted: _Optional[int] = ..., archives_accepted: _Optional[int] = ...) -> None: ...
