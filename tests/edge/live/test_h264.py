"""The H.264 profile the edge answers with, and the NAL units it reads from the camera's packets."""

from __future__ import annotations

from agents.edge.live.h264 import (
    NAL_IDR,
    NAL_PPS,
    NAL_SPS,
    answer_profile,
    find_sps,
    nal_types,
    profile_level_id,
)


def offer(*profiles: str, mode: str = "1") -> str:
    lines = ["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", "t=0 0", "a=group:BUNDLE 0",
             "m=video 9 UDP/TLS/RTP/SAVPF " + " ".join(str(100 + i) for i in range(len(profiles))),
             "c=IN IP4 0.0.0.0", "a=mid:0", "a=recvonly", "a=rtcp-mux"]
    for i, plid in enumerate(profiles):
        lines += [f"a=rtpmap:{100 + i} H264/90000",
                  f"a=fmtp:{100 + i} level-asymmetry-allowed=1;packetization-mode={mode};profile-level-id={plid}"]
    return "\r\n".join(lines) + "\r\n"


def test_the_cameras_own_profile_first_as_offered() -> None:
    # The offer's own profile-level-id: the level in an answer is not the camera's (see live/h264.py).
    assert answer_profile("640028", offer("42e01f", "4d001f", "64001f", "f4001f")) == "64001f"


def test_nearest_profile_whose_decoders_decode_the_camera() -> None:
    # Debian's Chromium: no plain High; High 4:4:4 decoders decode High, Main ones need not.
    assert answer_profile("64001f", offer("42e01f", "4d001f", "f4001f")) == "f4001f"
    # A Main camera goes to Main before High 4:4:4.
    assert answer_profile("4d0029", offer("42e01f", "f4001f", "4d001f")) == "4d001f"
    # Constrained Baseline (x264 writes constraint_set0+1, 42c0) is decodable by every profile listed;
    # its own wins over Baseline too.
    assert answer_profile("42c01e", offer("4d001f", "42001f", "42e01f")) == "42e01f"


def test_no_answer_when_the_viewer_cannot_decode_it() -> None:
    assert answer_profile("64001f", offer("42e01f", "4d001f")) is None
    assert answer_profile("64001f", offer("64001f", mode="0")) is None  # single NAL mode: not what we send


def test_parameter_sets_from_annex_b() -> None:
    sps = bytes([0x67, 0x64, 0x00, 0x1F, 0xAC])
    data = b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01\x68\xEE" + b"\x00\x00\x01\x65\x88\x84"
    assert nal_types(data) == {NAL_SPS, NAL_PPS, NAL_IDR}
    found = find_sps(data)
    assert found == sps and profile_level_id(found) == "64001f"
    assert find_sps(b"\x00\x00\x01\x41\x9a") is None
