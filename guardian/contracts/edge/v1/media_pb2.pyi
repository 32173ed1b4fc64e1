from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper

DESCRIPTOR: _descriptor.FileDescriptor

class MediaRequest(_message.Message):
    __slots__ = ("event_id", "kind", "length", "offset")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[MediaRequest.Kind]
        CLIP: _ClassVar[MediaRequest.Kind]
        SNAPSHOT: _ClassVar[MediaRequest.Kind]
        THUMBNAIL: _ClassVar[MediaRequest.Kind]
    KIND_UNSPECIFIED: MediaRequest.Kind
    CLIP: MediaRequest.Kind
    SNAPSHOT: MediaRequest.Kind
    THUMBNAIL: MediaRequest.Kind
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    kind: MediaRequest.Kind
    offset: int
    length: int
    def __init__(self, event_id: str | None = ..., kind: MediaRequest.Kind | str | None = ..., offset: int | None = ..., length: int | None = ...) -> None: ...

class MediaChunk(_message.Message):
    __slots__ = ("content_type", "data", "offset", "total_size")
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    total_size: int
    content_type: str
    offset: int
    data: bytes
    def __init__(self, total_size: int | None = ..., content_type: str | None = ..., offset: int | None = ..., data: bytes | None = ...) -> None: ...
