from typing import ClassVar as _ClassVar

from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper

DESCRIPTOR: _descriptor.FileDescriptor

class ArchiveChunk(_message.Message):
    __slots__ = ("data", "event_id", "last", "offset", "total_size", "upload_id")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    event_id: str
    total_size: int
    offset: int
    data: bytes
    last: bool
    def __init__(self, upload_id: str | None = ..., event_id: str | None = ..., total_size: int | None = ..., offset: int | None = ..., data: bytes | None = ..., last: bool | None = ...) -> None: ...

class ArchiveStatusRequest(_message.Message):
    __slots__ = ("upload_id",)
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    def __init__(self, upload_id: str | None = ...) -> None: ...

class ArchiveStatus(_message.Message):
    __slots__ = ("received", "upload_id")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    received: int
    def __init__(self, upload_id: str | None = ..., received: int | None = ...) -> None: ...

class ArchiveReceipt(_message.Message):
    __slots__ = ("cid", "reason", "result", "size", "upload_id")
    class Result(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESULT_UNSPECIFIED: _ClassVar[ArchiveReceipt.Result]
        STORED: _ClassVar[ArchiveReceipt.Result]
        OVER_QUOTA: _ClassVar[ArchiveReceipt.Result]
        FAILED: _ClassVar[ArchiveReceipt.Result]
    RESULT_UNSPECIFIED: ArchiveReceipt.Result
    STORED: ArchiveReceipt.Result
    OVER_QUOTA: ArchiveReceipt.Result
    FAILED: ArchiveReceipt.Result
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    CID_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    cid: str
    size: int
    result: ArchiveReceipt.Result
    reason: str
    def __init__(self, upload_id: str | None = ..., cid: str | None = ..., size: int | None = ..., result: ArchiveReceipt.Result | str | None = ..., reason: str | None = ...) -> None: ...
