import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class Polygon(_message.Message):
    __slots__ = ("name", "points")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    name: str
    points: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, name: _Optional[str] = ..., points: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class SealedSecret(_message.Message):
    __slots__ = ("ciphertext", "key_id")
    CIPHERTEXT_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    ciphertext: bytes
    key_id: str
    def __init__(self, ciphertext: _Optional[bytes] = ..., key_id: _Optional[str] = ...) -> None: ...

class StreamSource(_message.Message):
    __slots__ = ("url", "credentials")
    URL_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    url: str
    credentials: SealedSecret
    def __init__(self, url: _Optional[str] = ..., credentials: _Optional[_Union[SealedSecret, _Mapping]] = ...) -> None: ...

class LabelThreshold(_message.Message):
    __slots__ = ("label", "min_score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    min_score: float
    def __init__(self, label: _Optional[str] = ..., min_score: _Optional[float] = ...) -> None: ...

class DetectionConfig(_message.Message):
    __slots__ = ("labels", "thresholds", "min_area", "zones", "masks", "alert_zones", "tiles", "alert_labels", "input_size")
    LABELS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    MIN_AREA_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    MASKS_FIELD_NUMBER: _ClassVar[int]
    ALERT_ZONES_FIELD_NUMBER: _ClassVar[int]
    TILES_FIELD_NUMBER: _ClassVar[int]
    ALERT_LABELS_FIELD_NUMBER: _ClassVar[int]
    INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.RepeatedScalarFieldContainer[str]
    thresholds: _containers.RepeatedCompositeFieldContainer[LabelThreshold]
    min_area: float
    zones: _containers.RepeatedCompositeFieldContainer[Polygon]
    masks: _containers.RepeatedCompositeFieldContainer[Polygon]
    alert_zones: _containers.RepeatedScalarFieldContainer[str]
    tiles: TileConfig
    alert_labels: _containers.RepeatedScalarFieldContainer[str]
    input_size: int
    def __init__(self, labels: _Optional[_Iterable[str]] = ..., thresholds: _Optional[_Iterable[_Union[LabelThreshold, _Mapping]]] = ..., min_area: _Optional[float] = ..., zones: _Optional[_Iterable[_Union[Polygon, _Mapping]]] = ..., masks: _Optional[_Iterable[_Union[Polygon, _Mapping]]] = ..., alert_zones: _Optional[_Iterable[str]] = ..., tiles: _Optional[_Union[TileConfig, _Mapping]] = ..., alert_labels: _Optional[_Iterable[str]] = ..., input_size: _Optional[int] = ...) -> None: ...

class TileConfig(_message.Message):
    __slots__ = ("columns", "rows", "overlap")
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    columns: int
    rows: int
    overlap: float
    def __init__(self, columns: _Optional[int] = ..., rows: _Optional[int] = ..., overlap: _Optional[float] = ...) -> None: ...

class CameraConfig(_message.Message):
    __slots__ = ("name", "display_name", "enabled", "record", "detect", "detection", "retention_days")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    DETECT_FIELD_NUMBER: _ClassVar[int]
    DETECTION_FIELD_NUMBER: _ClassVar[int]
    RETENTION_DAYS_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    enabled: bool
    record: StreamSource
    detect: StreamSource
    detection: DetectionConfig
    retention_days: float
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., enabled: _Optional[bool] = ..., record: _Optional[_Union[StreamSource, _Mapping]] = ..., detect: _Optional[_Union[StreamSource, _Mapping]] = ..., detection: _Optional[_Union[DetectionConfig, _Mapping]] = ..., retention_days: _Optional[float] = ...) -> None: ...

class DesiredConfig(_message.Message):
    __slots__ = ("device_id", "version", "created_at", "cameras", "mqtt")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    MQTT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    version: int
    created_at: _timestamp_pb2.Timestamp
    cameras: _containers.RepeatedCompositeFieldContainer[CameraConfig]
    mqtt: MqttConfig
    def __init__(self, device_id: _Optional[str] = ..., version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cameras: _Optional[_Iterable[_Union[CameraConfig, _Mapping]]] = ..., mqtt: _Optional[_Union[MqttConfig, _Mapping]] = ...) -> None: ...

class MqttConfig(_message.Message):
    __slots__ = ("enabled", "host", "port", "username", "password", "topic_prefix", "discovery", "tls", "ca_pem")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    PORT_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    TOPIC_PREFIX_FIELD_NUMBER: _ClassVar[int]
    DISCOVERY_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    host: str
    port: int
    username: str
    password: SealedSecret
    topic_prefix: str
    discovery: bool
    tls: bool
    ca_pem: str
    def __init__(self, enabled: _Optional[bool] = ..., host: _Optional[str] = ..., port: _Optional[int] = ..., username: _Optional[str] = ..., password: _Optional[_Union[SealedSecret, _Mapping]] = ..., topic_prefix: _Optional[str] = ..., discovery: _Optional[bool] = ..., tls: _Optional[bool] = ..., ca_pem: _Optional[str] = ...) -> None: ...

class ConfigKey(_message.Message):
    __slots__ = ("key_id", "public_key")
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEY_FIELD_NUMBER: _ClassVar[int]
    key_id: str
    public_key: bytes
    def __init__(self, key_id: _Optional[str] = ..., public_key: _Optional[bytes] = ...) -> None: ...

class CameraApplyStatus(_message.Message):
    __slots__ = ("camera", "state", "error")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    camera: str
    state: str
    error: str
    def __init__(self, camera: _Optional[str] = ..., state: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class ConfigReport(_message.Message):
    __slots__ = ("device_id", "applied_version", "refused_version", "refused_reason", "cameras", "at", "config_key", "mqtt")
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_VERSION_FIELD_NUMBER: _ClassVar[int]
    REFUSED_REASON_FIELD_NUMBER: _ClassVar[int]
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CONFIG_KEY_FIELD_NUMBER: _ClassVar[int]
    MQTT_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    applied_version: int
    refused_version: int
    refused_reason: str
    cameras: _containers.RepeatedCompositeFieldContainer[CameraApplyStatus]
    at: _timestamp_pb2.Timestamp
    config_key: ConfigKey
    mqtt: MqttStatus
    def __init__(self, device_id: _Optional[str] = ..., applied_version: _Optional[int] = ..., refused_version: _Optional[int] = ..., refused_reason: _Optional[str] = ..., cameras: _Optional[_Iterable[_Union[CameraApplyStatus, _Mapping]]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., config_key: _Optional[_Union[ConfigKey, _Mapping]] = ..., mqtt: _Optional[_Union[MqttStatus, _Mapping]] = ...) -> None: ...

class MqttStatus(_message.Message):
    __slots__ = ("state", "error")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    state: str
    error: str
    def __init__(self, state: _Optional[str] = ..., error: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("applied_version",)
    APPLIED_VERSION_FIELD_NUMBER: _ClassVar[int]
    applied_version: int
    def __init__(self, applied_version: _Optional[int] = ...) -> None: ...

class ReportAck(_message.Message):
    __slots__ = ("recorded_version",)
    RECORDED_VERSION_FIELD_NUMBER: _ClassVar[int]
    recorded_version: int
    def __init__(self, recorded_version: _Optional[int] = ...) -> None: ...
