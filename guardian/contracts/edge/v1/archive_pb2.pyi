from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArchiveChunk(_message.Message):
    __slots__ = ("upload_id", "event_id", "total_size", "offset", "data", "last")
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
    def __init__(self, upload_id: _Optional[str] = ..., event_id: _Optional[str] = ..., total_size: _Optional[int] = ..., offset: _Optional[int] = ..., data: _Optional[bytes] = ..., last: _Optional[bool] = ...) -> None: ...

class ArchiveStatusRequest(_message.Message):
    __slots__ = ("upload_id",)
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    def __init__(self, upload_id: _Optional[str] = ...) -> None: ...

class ArchiveStatus(_message.Message):
    __slots__ = ("upload_id", "received")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    received: int
    def __init__(self, upload_id: _Optional[str] = ..., received: _Optional[int] = ...) -> None: ...

class ArchiveReceipt(_message.Message):
    __slots__ = ("upload_id", "cid", "size", "result", "reason")
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
    def __init__(self, upload_id: _Optional[str] = ..., cid: _Optional[str] = ..., size: _Optional[int] = ..., result: _Optional[_Union[ArchiveReceipt.Result, str]] = ..., reason: _Optional[str] = ...) -> None: ...
