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

class Box(_message.Message):
    __slots__ = ("x_max", "x_min", "y_max", "y_min")
    X_MIN_FIELD_NUMBER: _ClassVar[int]
    Y_MIN_FIELD_NUMBER: _ClassVar[int]
    X_MAX_FIELD_NUMBER: _ClassVar[int]
    Y_MAX_FIELD_NUMBER: _ClassVar[int]
    x_min: float
    y_min: float
    x_max: float
    y_max: float
    def __init__(self, x_min: float | None = ..., y_min: float | None = ..., x_max: float | None = ..., y_max: float | None = ...) -> None: ...

class TrackPoint(_message.Message):
    __slots__ = ("at", "box", "score")
    AT_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    box: Box
    score: float
    def __init__(self, at: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., box: Box | _Mapping | None = ..., score: float | None = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("camera", "clip_duration_s", "clip_ref", "end", "ended", "event_id", "label", "max_score", "mean_score", "snapshot_ref", "start", "track")
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
    def __init__(self, event_id: str | None = ..., camera: str | None = ..., label: str | None = ..., start: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., end: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., max_score: float | None = ..., mean_score: float | None = ..., track: _Iterable[TrackPoint | _Mapping] | None = ..., snapshot_ref: str | None = ..., clip_ref: str | None = ..., clip_duration_s: float | None = ..., ended: bool | None = ...) -> None: ...

class CameraStatus(_message.Message):
    __slots__ = ("bitrate_bps", "camera", "fps", "last_frame_at", "reason", "state")
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
    def __init__(self, camera: str | None = ..., state: str | None = ..., reason: str | None = ..., last_frame_at: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., fps: float | None = ..., bitrate_bps: float | None = ...) -> None: ...

class TunnelHealth(_message.Message):
    __slots__ = ("handshake_age_s", "rtt_ms", "rx_bytes", "tx_bytes")
    HANDSHAKE_AGE_S_FIELD_NUMBER: _ClassVar[int]
    RX_BYTES_FIELD_NUMBER: _ClassVar[int]
    TX_BYTES_FIELD_NUMBER: _ClassVar[int]
    RTT_MS_FIELD_NUMBER: _ClassVar[int]
    handshake_age_s: float
    rx_bytes: int
    tx_bytes: int
    rtt_ms: float
    def __init__(self, handshake_age_s: float | None = ..., rx_bytes: int | None = ..., tx_bytes: int | None = ..., rtt_ms: float | None = ...) -> None: ...

class Telemetry(_message.Message):
    __slots__ = ("agent_version", "at", "cameras", "cpu_percent", "disk_used_percent", "inference_latency_ms_p50", "memory_percent", "net_rx_bytes", "net_tx_bytes", "outbox_length", "tunnel")
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
    def __init__(self, at: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., cpu_percent: float | None = ..., memory_percent: float | None = ..., disk_used_percent: float | None = ..., net_rx_bytes: int | None = ..., net_tx_bytes: int | None = ..., cameras: _Iterable[CameraStatus | _Mapping] | None = ..., outbox_length: int | None = ..., inference_latency_ms_p50: float | None = ..., tunnel: TunnelHealth | _Mapping | None = ..., agent_version: str | None = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("agent_version", "at")
    AT_FIELD_NUMBER: _ClassVar[int]
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    at: _timestamp_pb2.Timestamp
    agent_version: str
    def __init__(self, at: datetime.datetime | _timestamp_pb2.Timestamp | _Mapping | None = ..., agent_version: str | None = ...) -> None: ...

class UplinkMessage(_message.Message):
    __slots__ = ("event", "heartbeat", "message_id", "telemetry")
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    TELEMETRY_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    message_id: int
    event: Event
    telemetry: Telemetry
    heartbeat: Heartbeat
    def __init__(self, message_id: int | None = ..., event: Event | _Mapping | None = ..., telemetry: Telemetry | _Mapping | None = ..., heartbeat: Heartbeat | _Mapping | None = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("message_id", "reason", "status")
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
    def __init__(self, message_id: int | None = ..., status: Ack.Status | str | None = ..., reason: str | None = ...) -> None: ...
