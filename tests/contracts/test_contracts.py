"""Wire contracts: every message survives a round trip, and the committed generated code is current."""

from __future__ import annotations

import filecmp
import importlib
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from guardian.contracts import generate

MODULES = [
    "guardian.contracts.edge.v1.uplink_pb2",
    "guardian.contracts.edge.v1.media_pb2",
    "guardian.contracts.edge.v1.archive_pb2",
    "guardian.contracts.edge.v1.config_pb2",
    "guardian.contracts.edge.v1.cameras_pb2",
    "guardian.contracts.cloud.v1.ingest_pb2",
]

_SAMPLES = {
    FieldDescriptor.TYPE_STRING: "sample-ü",
    FieldDescriptor.TYPE_BYTES: b"\x00\xffbytes",
    FieldDescriptor.TYPE_BOOL: True,
    FieldDescriptor.TYPE_FLOAT: 0.5,
    FieldDescriptor.TYPE_DOUBLE: 1.25,
    FieldDescriptor.TYPE_INT32: -7,
    FieldDescriptor.TYPE_INT64: -(2**40),
    FieldDescriptor.TYPE_UINT32: 7,
    FieldDescriptor.TYPE_UINT64: 2**40,
}


def fill(message: Message, depth: int = 0) -> Message:
    """Set every field (one oneof member each) to a non-default value."""
    done_oneofs: set[str] = set()
    for field in message.DESCRIPTOR.fields:
        oneof = field.containing_oneof
        if oneof is not None:
            if oneof.name in done_oneofs:
                continue
            done_oneofs.add(oneof.name)
        repeated = field.is_repeated
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            assert field.message_type is not None  # set on every message field
            if field.message_type.full_name == "google.protobuf.Timestamp":
                target = getattr(message, field.name).add() if repeated else getattr(message, field.name)
                target.FromSeconds(1_764_000_000 + depth)
            elif depth < 3:
                target = getattr(message, field.name).add() if repeated else getattr(message, field.name)
                fill(target, depth + 1)
        elif field.type == FieldDescriptor.TYPE_ENUM:
            assert field.enum_type is not None  # set on every enum field
            value: object = field.enum_type.values[-1].number
            getattr(message, field.name).append(value) if repeated else setattr(message, field.name, value)
        else:
            value = _SAMPLES[field.type]
            getattr(message, field.name).append(value) if repeated else setattr(message, field.name, value)
    return message


def all_messages() -> list[type[Message]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            found.append(getattr(module, descriptor.name))
    return found


@pytest.mark.parametrize("message_cls", all_messages(), ids=lambda c: c.DESCRIPTOR.full_name)
def test_every_message_round_trips(message_cls):
    original = fill(message_cls())
    assert original.ByteSize() > 0
    assert message_cls.FromString(original.SerializeToString()) == original
    # The relay posts cloud contracts as proto3 JSON: that must round-trip too.
    assert json_format.Parse(json_format.MessageToJson(original), message_cls()) == original


def test_cloud_contract_cannot_carry_edge_only_data():
    """Privacy by construction: the cloud's messages have no field for media, boxes, tracks or scores."""
    ingest = importlib.import_module("guardian.contracts.cloud.v1.ingest_pb2")
    forbidden = ("box", "track", "score", "snapshot", "clip_ref", "thumbnail", "video", "image", "jpeg",
                 "polygon", "point", "geometry", "mask")
    for descriptor in ingest.DESCRIPTOR.message_types_by_name.values():
        for field in descriptor.fields:
            assert not any(word in field.name for word in forbidden), f"{descriptor.name}.{field.name}"
            assert field.type != FieldDescriptor.TYPE_BYTES, f"{descriptor.name}.{field.name} carries raw bytes"


def test_camera_access_carries_credentials_only_sealed():
    """What may cross between relay and edge for camera access: credentials only as a sealed box (never a
    user or password field), the picture only as the Picture answer's JPEG; and none of it is in the cloud
    contract, which never imports these messages."""
    cameras = importlib.import_module("guardian.contracts.edge.v1.cameras_pb2")
    ingest = importlib.import_module("guardian.contracts.cloud.v1.ingest_pb2")
    byte_fields = set()
    # The one login that crosses in the clear: the TURN credential the relay mints for one live session
    # (it expires with the live token and opens nothing but an allocation on the relay's own TURN server).
    turn = {"guardian.edge.v1.LiveOffer.turn_username", "guardian.edge.v1.LiveOffer.turn_credential"}
    for descriptor in cameras.DESCRIPTOR.message_types_by_name.values():
        for field in descriptor.fields:
            if field.full_name in turn:
                continue
            assert not any(word in field.name for word in ("user", "password", "secret")), field.full_name
            if field.type == FieldDescriptor.TYPE_BYTES:
                byte_fields.add(field.full_name)
    assert byte_fields == {"guardian.edge.v1.CameraPicture.jpeg", "guardian.edge.v1.ProbeRequest.sealed_credentials",
                           "guardian.edge.v1.DiscoverRequest.sealed_credentials"}
    assert cameras.DESCRIPTOR.name not in [d.name for d in ingest.DESCRIPTOR.dependencies]
    health = ingest.DESCRIPTOR.message_types_by_name["CameraHealth"]
    assert {f.type for f in health.fields} <= {FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_DOUBLE,
                                                FieldDescriptor.TYPE_MESSAGE}  # health, never a picture


def test_zones_cross_to_the_cloud_as_names_only():
    """An event's zones reach the cloud as a list of names: a string per zone, never a polygon."""
    uplink = importlib.import_module("guardian.contracts.edge.v1.uplink_pb2")
    ingest = importlib.import_module("guardian.contracts.cloud.v1.ingest_pb2")
    for message in (uplink.Event, ingest.EventSummary):
        zones = message.DESCRIPTOR.fields_by_name["zones"]
        assert zones.is_repeated and zones.type == FieldDescriptor.TYPE_STRING, message.DESCRIPTOR.full_name


def test_generated_code_is_current(tmp_path: Path):
    generate.generate(tmp_path)
    fresh_dir = tmp_path / "guardian" / "contracts"
    fresh = [p.relative_to(fresh_dir) for p in generate.generated_files(fresh_dir)]
    assert fresh, "nothing generated"
    committed = [p.relative_to(generate.CONTRACTS) for p in generate.generated_files(generate.CONTRACTS)]
    assert committed == fresh, "generated modules added or removed: run python -m guardian.contracts.generate"
    stale = [str(p) for p in fresh if not filecmp.cmp(fresh_dir / p, generate.CONTRACTS / p, shallow=False)]
    assert not stale, f"stale generated code, run python -m guardian.contracts.generate: {stale}"
