from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MediaRequest(_message.Message):
    __slots__ = ("event_id", "kind", "offset", "length")
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
    def __init__(self, event_id: _Optional[str] = ..., kind: _Optional[_Union[MediaRequest.Kind, str]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class MediaChunk(_message.Message):
    __slots__ = ("total_size", "content_type", "offset", "data")
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    total_size: int
    content_type: str
    offset: int
    data: bytes
    def __init__(self, total_size: _Optional[int] = ..., content_type: _Optional[str] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...
