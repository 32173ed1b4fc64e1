import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PictureRequest(_message.Message):
    __slots__ = ("camera",)
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    camera: str
    def __init__(self, camera: _Optional[str] = ...) -> None: ...

class CameraPicture(_message.Message):
    __slots__ = ("jpeg", "taken_at")
    JPEG_FIELD_NUMBER: _ClassVar[int]
    TAKEN_AT_FIELD_NUMBER: _ClassVar[int]
    jpeg: bytes
    taken_at: _timestamp_pb2.Timestamp
    def __init__(self, jpeg: _Optional[bytes] = ..., taken_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DiscoverRequest(_message.Message):
    __slots__ = ("search_timeout_s", "address", "sealed_credentials")
    SEARCH_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SEALED_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    search_timeout_s: float
    address: str
    sealed_credentials: bytes
    def __init__(self, search_timeout_s: _Optional[float] = ..., address: _Optional[str] = ..., sealed_credentials: _Optional[bytes] = ...) -> None: ...

class CameraError(_message.Message):
    __slots__ = ("kind", "detail")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    kind: str
    detail: str
    def __init__(self, kind: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class DiscoveredProfile(_message.Message):
    __slots__ = ("token", "name", "encoding", "width", "height", "fps", "stream_uri", "snapshot_uri")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    STREAM_URI_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_URI_FIELD_NUMBER: _ClassVar[int]
    token: str
    name: str
    encoding: str
    width: int
    height: int
    fps: float
    stream_uri: str
    snapshot_uri: str
    def __init__(self, token: _Optional[str] = ..., name: _Optional[str] = ..., encoding: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ..., stream_uri: _Optional[str] = ..., snapshot_uri: _Optional[str] = ...) -> None: ...

class DiscoveredCamera(_message.Message):
    __slots__ = ("address", "scopes", "manufacturer", "model", "firmware", "serial", "profiles", "error")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    MANUFACTURER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    FIRMWARE_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    address: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    manufacturer: str
    model: str
    firmware: str
    serial: str
    profiles: _containers.RepeatedCompositeFieldContainer[DiscoveredProfile]
    error: CameraError
    def __init__(self, address: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., manufacturer: _Optional[str] = ..., model: _Optional[str] = ..., firmware: _Optional[str] = ..., serial: _Optional[str] = ..., profiles: _Optional[_Iterable[_Union[DiscoveredProfile, _Mapping]]] = ..., error: _Optional[_Union[CameraError, _Mapping]] = ...) -> None: ...

class DiscoverResult(_message.Message):
    __slots__ = ("cameras", "took_s")
    CAMERAS_FIELD_NUMBER: _ClassVar[int]
    TOOK_S_FIELD_NUMBER: _ClassVar[int]
    cameras: _containers.RepeatedCompositeFieldContainer[DiscoveredCamera]
    took_s: float
    def __init__(self, cameras: _Optional[_Iterable[_Union[DiscoveredCamera, _Mapping]]] = ..., took_s: _Optional[float] = ...) -> None: ...

class ProbeRequest(_message.Message):
    __slots__ = ("url", "sealed_credentials")
    URL_FIELD_NUMBER: _ClassVar[int]
    SEALED_CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    url: str
    sealed_credentials: bytes
    def __init__(self, url: _Optional[str] = ..., sealed_credentials: _Optional[bytes] = ...) -> None: ...

class ProbeResult(_message.Message):
    __slots__ = ("ok", "codec", "width", "height", "fps", "error")
    OK_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    FPS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    codec: str
    width: int
    height: int
    fps: float
    error: CameraError
    def __init__(self, ok: _Optional[bool] = ..., codec: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., fps: _Optional[float] = ..., error: _Optional[_Union[CameraError, _Mapping]] = ...) -> None: ...

class LiveOffer(_message.Message):
    __slots__ = ("camera", "sdp", "stream", "turn_urls", "turn_username", "turn_credential", "expires_at")
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    STREAM_FIELD_NUMBER: _ClassVar[int]
    TURN_URLS_FIELD_NUMBER: _ClassVar[int]
    TURN_USERNAME_FIELD_NUMBER: _ClassVar[int]
    TURN_CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    camera: str
    sdp: str
    stream: str
    turn_urls: _containers.RepeatedScalarFieldContainer[str]
    turn_username: str
    turn_credential: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, camera: _Optional[str] = ..., sdp: _Optional[str] = ..., stream: _Optional[str] = ..., turn_urls: _Optional[_Iterable[str]] = ..., turn_username: _Optional[str] = ..., turn_credential: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LiveAnswer(_message.Message):
    __slots__ = ("session_id", "sdp")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SDP_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    sdp: str
    def __init__(self, session_id: _Optional[str] = ..., sdp: _Optional[str] = ...) -> None: ...

class LiveStop(_message.Message):
    __slots__ = ("session_id", "camera", "reason")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    camera: str
    reason: str
    def __init__(self, session_id: _Optional[str] = ..., camera: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class LiveStopped(_message.Message):
    __slots__ = ("found",)
    FOUND_FIELD_NUMBER: _ClassVar[int]
    found: bool
    def __init__(self, found: _Optional[bool] = ...) -> None: ...

class LiveRenew(_message.Message):
    __slots__ = ("session_id", "camera", "expires_at")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CAMERA_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    camera: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, session_id: _Optional[str] = ..., camera: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class LiveRenewed(_message.Message):
    __slots__ = ("found",)
    FOUND_FIELD_NUMBER: _ClassVar[int]
    found: bool
    def __init__(self, found: _Optional[bool] = ...) -> None: ...
