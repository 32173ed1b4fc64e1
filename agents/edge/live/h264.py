"""H.264 as the camera sends it: Annex B NAL units, parameter sets, and the SDP profile it announces.

aiortc only lists Baseline and Constrained Baseline (what its own encoder makes). The edge forwards the
camera's stream as is, often Main or High. :func:`answer_profile` picks, among the profiles the viewer's
offer lists, the camera's own or else the nearest one whose decoders must decode it (High 4:4:4 decodes
High; Debian's Chromium offers Main and High 4:4:4 but not High), with the camera's level; and
:func:`codec_for_profile` registers it with aiortc's codec table (once per profile, process-wide) so the
answer carries it.
"""

from __future__ import annotations

import copy

from aiortc import RTCRtpCodecCapability, RTCRtpCodecParameters, rtp
from aiortc.codecs import CODECS
from aiortc.sdp import H264Profile, SessionDescription, parse_h264_profile_level_id

# Chromium numbers the codecs it runs out of room for in 96-127 from 35-63 (RFC 8829 §5.1.1 allows it);
# aiortc only takes the offer's payload type in 96-127 and would answer High 4:4:4 (PT 41) with its own
# number, which the browser maps to another codec. Both ranges are dynamic: take the offer's in either.
rtp.DYNAMIC_PAYLOAD_TYPES = frozenset(range(35, 64)) | frozenset(range(96, 128))  # type: ignore[assignment]

NAL_SPS = 7
NAL_PPS = 8
NAL_IDR = 5


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex B byte stream (start codes removed)."""
    units: list[bytes] = []
    starts: list[tuple[int, int]] = []  # (start-code position, payload position)
    i = data.find(b"\x00\x00\x01")
    while i >= 0:
        begin = i - 1 if i > 0 and data[i - 1] == 0 else i  # 4-byte start code
        starts.append((begin, i + 3))
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, (_, payload) in enumerate(starts):
        end = starts[n + 1][0] if n + 1 < len(starts) else len(data)
        if end > payload:
            units.append(data[payload:end])
    return units


def nal_types(data: bytes) -> set[int]:
    return {unit[0] & 0x1F for unit in nal_units(data)}


def find_sps(data: bytes) -> bytes | None:
    for unit in nal_units(data):
        if unit[0] & 0x1F == NAL_SPS and len(unit) >= 4:
            return unit
    return None


def profile_level_id(sps: bytes) -> str:
    """RFC 6184 ``profile-level-id``: profile_idc, the constraint flags and level_idc, in hex."""
    return sps[1:4].hex()


def codec_for_profile(plid: str) -> RTCRtpCodecCapability:
    """The H.264 codec (packetization-mode 1, ``plid``) to answer with, registered with aiortc."""
    parameters: dict[str, str | int | None] = {
        "level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": plid,
    }
    video = CODECS["video"]
    if not any(c.mimeType == "video/H264" and c.parameters == parameters for c in video):
        # Payload types only matter in offers (an answer takes the offer's); keep them unique anyway.
        pt = max(c.payloadType or 0 for c in video) + 1
        template = next(c for c in video if c.mimeType == "video/H264")
        codec = copy.deepcopy(template)
        codec.payloadType, codec.parameters = pt, dict(parameters)
        video.append(codec)
        video.append(RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=pt + 1,
                                           parameters={"apt": pt}))
    return RTCRtpCodecCapability(mimeType="video/H264", clockRate=90000, parameters=parameters)


_P = H264Profile
# Decoder profile -> the stream profiles its decoders must decode (ITU-T H.264 annex A), nearest first.
_DECODES: dict[H264Profile, tuple[H264Profile, ...]] = {
    _P.PROFILE_CONSTRAINED_BASELINE: (_P.PROFILE_CONSTRAINED_BASELINE,),
    _P.PROFILE_BASELINE: (_P.PROFILE_BASELINE, _P.PROFILE_CONSTRAINED_BASELINE),
    _P.PROFILE_MAIN: (_P.PROFILE_MAIN, _P.PROFILE_CONSTRAINED_BASELINE),
    _P.PROFILE_CONSTRAINED_HIGH: (_P.PROFILE_CONSTRAINED_HIGH, _P.PROFILE_CONSTRAINED_BASELINE),
    _P.PROFILE_HIGH: (_P.PROFILE_HIGH, _P.PROFILE_CONSTRAINED_HIGH, _P.PROFILE_MAIN, _P.PROFILE_CONSTRAINED_BASELINE),
    _P.PROFILE_PREDICTIVE_HIGH_444: (_P.PROFILE_PREDICTIVE_HIGH_444, _P.PROFILE_HIGH, _P.PROFILE_CONSTRAINED_HIGH,
                                     _P.PROFILE_MAIN, _P.PROFILE_CONSTRAINED_BASELINE),
}


def answer_profile(camera_plid: str, offer_sdp: str) -> str | None:
    """The ``profile-level-id`` to answer ``offer_sdp`` with for a camera sending ``camera_plid``: an
    offered H.264 (packetization-mode 1) profile whose decoders decode the camera's, the camera's own
    first, then the nearest; with the camera's level. ``None`` if the viewer cannot decode it."""
    camera_profile = parse_h264_profile_level_id(camera_plid)[0]
    offered: list[tuple[int, str]] = []
    for media in SessionDescription.parse(offer_sdp).media:
        if media.kind != "video":
            continue
        for codec in media.rtp.codecs:
            if codec.mimeType.lower() != "video/h264" or str(codec.parameters.get("packetization-mode")) != "1":
                continue
            plid = str(codec.parameters.get("profile-level-id", "42e01f")).lower()
            try:
                profile = parse_h264_profile_level_id(plid)[0]
            except ValueError:
                continue
            decodes = _DECODES[profile]
            if camera_profile in decodes:
                # Nearest: the profile whose decodable list is shortest (the camera's own has rank 0).
                offered.append((0 if profile == camera_profile else len(decodes), plid))
    if not offered:
        return None
    return min(offered)[1][:4] + camera_plid[4:6]
