import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Severity(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEVERITY_UNSPECIFIED: _ClassVar[Severity]
    SEVERITY_DETECTION: _ClassVar[Severity]
    SEVERITY_ALERT: _ClassVar[Severity]
SEVERITY_UNSPECIFIED: Severity
SEVERITY_DETECTION: Severity
SEVERITY_ALERT: Severity

class Box(_message.Message):
    __slots__ = ("x_min", "y_min", "x_max", "y_max")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, x_min: _Optional[float] = ..., y_min: _Optional[float] = ..., x_max: _Optional[float] = ..., y_max: _Optional[float] = ...) -> None: ...

class TrackPoint(_message.Message):
    __slots__ = ("at", "box", "score")
    AT_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    box: Box
    score: float
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., box: _Optional[_Union[Box, _Mapping]] = ..., score: _Optional[float] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "camera", "label", "start", "end", "max_score", "mean_score", "track", "snapshot_ref", "clip_ref", "clip_duration_s", "ended", "zones", "severity", "review_item")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MAX_SCORE_FIELD_NUMBER: _ClassVar[int]
    MEAN_SCORE_FIELD_NUMBER: _ClassVar[int]
    TRACK_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_REF_FIELD_NUMBER: _ClassVar[int]
    CLIP_REF_FIELD_NUMBER: _ClassVar[int]
    CLIP_DURATION_S_FIELD_NUMBER: _ClassVar[int]
    ENDED_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    REVIEW_ITEM_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    camera: str
    label: str
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    max_score: float
    mean_score: float
    track: _containers.RepeatedCompositeFieldContainer[TrackPoint]
    snapshot_ref: str
    clip_ref: str
    clip_duration_s: float
    ended: bool
    zones: _containers.RepeatedScalarFieldContainer[str]
    severity: Severity
    review_item: str
    def __init__(self, event_id: _Optional[str] = ..., camera: _Optional[str] = ..., label: _Optional[str] = ..., start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_score: _Optional[float] = ..., mean_score: _Optional[float] = ..., track: _Optional[_Iterable[_Union[TrackPoint, _Mapping]]] = ..., snapshot_ref: _Optional[str] = ..., clip_ref: _Optional[str] = ..., clip_duration_s: _Optional[float] = ..., ended: _Optional[bool] = ..., zones: _Optional[_Iterable[str]] = ..., severity: _Optional[_Union[Severity, str]] = ..., review_item: _Optional[str] = ...) -> None: ...

class CameraStatus(_message.Message):
    __slots__ = ("camera", "state", "reason", "last_frame_at", "fps", "bitrate_bps")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    LAST_FRAME_AT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    BITRATE_BPS_FIELD_NUMBER: _ClassVar[int]
    camera: str
    state: str
    reason: str
    last_frame_at: _timestamp_pb2.Timestamp
    fps: float
    bitrate_bps: float
    def __init__(self, camera: _Optional[str] = ..., state: _Optional[str] = ..., reason: _Optional[str] = ..., last_frame_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., fps: _Optional[float] = ..., bitrate_bps: _Optional[float] = ...) -> None: ...

class TunnelHealth(_message.Message):
    __slots__ = ("handshake_age_s", "rx_bytes", "tx_bytes", "rtt_ms")
    HANDSHAKE_AGE_S_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    handshake_age_s: float
    rx_bytes: int
    tx_bytes: int
    rtt_ms: float
    def __init__(self, handshake_age_s: _Optional[float] = ..., rx_bytes: _Optional[int] = ..., tx_bytes: _Optional[int] = ..., rtt_ms: _Optional[float] = ...) -> None: ...

class Telemetry(_message.Message):
    __slots__ = ("at", "cpu_percent", "memory_percent", "disk_used_percent", "net_rx_bytes", "net_tx_bytes", "cameras", "outbox_length", "inference_latency_ms_p50", "tunnel", "agent_version")
    AT_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DISK_USED_PERCENT_FIELD_NUMBER: _ClassVar[int]
    NET_RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    NET_TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    OUTBOX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_LATENCY_MS_P50_FIELD_NUMBER: _ClassVar[int]
    TUNNEL_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    cpu_percent: float
    memory_percent: float
    disk_used_percent: float
    net_rx_bytes: int
    net_tx_bytes: int
    cameras: _containers.RepeatedCompositeFieldContainer[CameraStatus]
    outbox_length: int
    inference_latency_ms_p50: float
    tunnel: TunnelHealth
    agent_version: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., disk_used_percent: _Optional[float] = ..., net_rx_bytes: _Optional[int] = ..., net_tx_bytes: _Optional[int] = ..., cameras: _Optional[_Iterable[_Union[CameraStatus, _Mapping]]] = ..., outbox_length: _Optional[int] = ..., inference_latency_ms_p50: _Optional[float] = ..., tunnel: _Optional[_Union[TunnelHealth, _Mapping]] = ..., agent_version: _Optional[str] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("at", "agent_version")
    AT_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    agent_version: str
    def __init__(self, at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., agent_version: _Optional[str] = ...) -> None: ...

class UplinkMessage(_message.Message):
    __slots__ = ("message_id", "event", "telemetry", "heartbeat")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    event: Event
    telemetry: Telemetry
    heartbeat: Heartbeat
    def __init__(self, message_id: _Optional[int] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., telemetry: _Optional[_Union[Telemetry, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("message_id", "status", "reason")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[Ack.Status]
        STORED: _ClassVar[Ack.Status]
        DUPLICATE: _ClassVar[Ack.Status]
        REJECTED: _ClassVar[Ack.Status]
    STATUS_UNSPECIFIED: Ack.Status
    STORED: Ack.Status
    DUPLICATE: Ack.Status
    REJECTED: Ack.Status
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    status: Ack.Status
    reason: str
    def __init__(self, message_id: _Optional[int] = ..., status: _Optional[_Union[Ack.Status, str]] = ..., reason: _Optional[str] = ...) -> None: ...
