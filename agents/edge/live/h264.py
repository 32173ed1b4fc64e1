"""H.264 as the camera sends it: Annex B NAL units, parameter sets, and the SDP profile it announces.

aiortc only lists Baseline and Constrained Baseline (what its own encoder makes). The edge forwards the
camera's stream as is, often Main or High. :func:`answer_profile` picks, among the profiles the viewer's
offer lists, the camera's own or else the nearest one whose decoders must decode it (High 4:4:4 decodes
High; Debian's Chromium offers Main and High 4:4:4 but not High); :func:`codec_for_profile` gives aiortc's
codec-table entry for that profile (registered once, process-wide, if aiortc has none) so the answer
carries it.

The answer names the profile, not the camera's level: aiortc answers an offered codec with the first
table entry of the same profile and packetization mode and keeps a preferred codec only if its
parameters equal that entry's, so a second entry of one profile (a Constrained Baseline sub-stream at
level 3.0 next to aiortc's own 3.1 entry, or two High cameras at different levels) was never chosen and
the offer was refused ("Failed to set remote video description send parameters"). The level loses
nothing: with ``level-asymmetry-allowed`` (RFC 6184 §8.1) an answer's level is what the answerer would
receive, and the edge receives no video; Chromium decodes the camera's level whatever the SDP says.
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


#: The level of the entries :func:`codec_for_profile` registers: 3.1, as aiortc's own and Chromium's offers.
ANSWER_LEVEL = "1f"


def _profile(codec: RTCRtpCodecParameters) -> H264Profile | None:
    """The profile of a packetization-mode 1 H.264 codec (what the edge sends), else None."""
    if codec.mimeType.lower() != "video/h264" or str(codec.parameters.get("packetization-mode")) != "1":
        return None
    try:
        return parse_h264_profile_level_id(str(codec.parameters.get("profile-level-id", "42e01f")))[0]
    except ValueError:
        return None


def codec_for_profile(plid: str) -> RTCRtpCodecCapability:
    """The H.264 codec (packetization-mode 1) of ``plid``'s profile to answer with: aiortc's table entry
    for that profile, the one its negotiation matches the offer's codec to (registered at
    :data:`ANSWER_LEVEL` when there is none). Every call for one profile gives the same codec."""
    profile = parse_h264_profile_level_id(plid)[0]
    video = CODECS["video"]
    codec = next((c for c in video if _profile(c) == profile), None)
    if codec is None:
        # Payload types only matter in offers (an answer takes the offer's); keep them unique anyway.
        pt = max(c.payloadType or 0 for c in video) + 1
        template = next(c for c in video if c.mimeType == "video/H264")
        codec = copy.deepcopy(template)
        codec.payloadType = pt
        codec.parameters = {"level-asymmetry-allowed": "1", "packetization-mode": "1",
                            "profile-level-id": plid[:4].lower() + ANSWER_LEVEL}
        video.append(codec)
        video.append(RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=pt + 1,
                                           parameters={"apt": pt}))
    return RTCRtpCodecCapability(mimeType=codec.mimeType, clockRate=codec.clockRate,
                                 parameters=dict(codec.parameters))


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
    """The offered ``profile-level-id`` to answer ``offer_sdp`` with for a camera sending ``camera_plid``:
    an offered H.264 (packetization-mode 1) profile whose decoders decode the camera's, the camera's own
    first, then the nearest. ``None`` if the viewer cannot decode it."""
    camera_profile = parse_h264_profile_level_id(camera_plid)[0]
    offered: list[tuple[int, str]] = []
    for media in SessionDescription.parse(offer_sdp).media:
        if media.kind != "video":
            continue
        for codec in media.rtp.codecs:
            profile = _profile(codec)
            if profile is None:
                continue
            decodes = _DECODES[profile]
            if camera_profile in decodes:
                # Nearest: the profile whose decodable list is shortest (the camera's own has rank 0).
                plid = str(codec.parameters.get("profile-level-id", "42e01f")).lower()
                offered.append((0 if profile == camera_profile else len(decodes), plid))
    if not offered:
        return None
    return min(offered)[1]
