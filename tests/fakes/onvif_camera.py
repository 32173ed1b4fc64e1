"""A simulated ONVIF camera: WS-Discovery, the Device and Media services, over a real protocol stack.

Cameras are devices we do not own, so the tests (and the demo) simulate one. Nothing here writes XML by
hand: WS-Discovery Hello/ProbeMatch messages come from the ``WSDiscovery`` library (the one the edge
searches with), and every SOAP answer is serialized by zeep from the ONVIF WSDLs and schemas that
``onvif-zeep-async`` ships (the ones the edge's client parses with), so an answer the schema does not
allow fails here, not in the client. Requests are parsed by the same operations' input messages.

Services: Device (GetDeviceInformation, GetCapabilities, GetServices, GetSystemDateAndTime) and Media
(GetProfiles, GetStreamUri, GetSnapshotUri), one media profile per ``--profile``, whose stream URI is the
RTSP camera given (the project's GStreamer fake camera). With ``--user``, every call outside ONVIF's
pre-authentication set needs a WS-Security UsernameToken (digest or text) with the password from
``$ONVIF_CAMERA_PASSWORD``; a wrong one gets the ``ter:NotAuthorized`` fault that the ONVIF core
specification prescribes (HTTP 400, SOAP 1.2 Sender fault).

Run: ``python -m tests.fakes.onvif_camera --address 192.168.88.1 --rtsp-url rtsp://… [--user admin]``. Once
serving it prints one JSON line, ``{"event": "ready", "xaddr": "http://…/onvif/device_service", …}``;
SIGTERM/SIGINT stop it (sending WS-Discovery Bye).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import onvif
from aiohttp import web
from lxml import etree
from lxml.builder import ElementMaker
from wsdiscovery import QName, Scope
from wsdiscovery.publishing import ThreadedWSPublishing
from wsdiscovery.threaded import NetworkingThread
from zeep import Client
from zeep.wsdl.definitions import Binding, Operation

WSDL_DIR = Path(onvif.__file__).parent / "wsdl"
DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
NVT_TYPE = QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn")
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
ONVIF_ERRORS = "http://www.onvif.org/ver10/error"
DIGEST_TYPE_SUFFIX = "#PasswordDigest"
# ONVIF core spec, 5.9.4 "Access classes": calls a client may make before it has credentials.
PRE_AUTH = frozenset({"GetSystemDateAndTime", "GetServices", "GetCapabilities", "GetWsdlUrl",
                      "GetServiceCapabilities", "GetEndpointReference", "GetHostname"})
DEVICE_PATH = "/onvif/device_service"
MEDIA_PATH = "/onvif/media_service"


@dataclasses.dataclass(frozen=True)
class Profile:
    token: str
    width: int
    height: int
    fps: int
    rtsp_url: str


@dataclasses.dataclass(frozen=True)
class Identity:
    manufacturer: str = "Guardian Test Optics"
    model: str = "SimCam 1"
    firmware: str = "1.4.2"
    serial: str = "SIM-0001"
    hardware_id: str = "simcam-hw-1"


class SoapFault(Exception):
    """A SOAP 1.2 fault to answer with (HTTP 400, as ONVIF prescribes for Sender faults)."""

    def __init__(self, code: str, subcode: tuple[str, str], reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason

    def envelope(self) -> bytes:
        soap = ElementMaker(namespace=SOAP12, nsmap={"env": SOAP12, "ter": ONVIF_ERRORS})
        subcode_ns, subcode_name = self.subcode
        fault = soap.Envelope(soap.Body(soap.Fault(
            soap.Code(soap.Value(f"env:{self.code}"), soap.Subcode(soap.Value(f"ter:{subcode_name}"))),
            soap.Reason(soap.Text(self.reason, {"{http://www.w3.org/XML/1998/namespace}lang": "en"})),
        )))
        assert subcode_ns == ONVIF_ERRORS  # the prefix bound above
        return bytes(etree.tostring(fault, xml_declaration=True, encoding="utf-8"))


def not_authorized() -> SoapFault:
    return SoapFault("Sender", (ONVIF_ERRORS, "NotAuthorized"), "Sender not Authorized")


class Credentials:
    """The camera's one account; checks WS-Security UsernameTokens (Username Token Profile 1.1)."""

    def __init__(self, user: str, password: str) -> None:
        self.user = user
        self.password = password

    def check(self, envelope: etree._Element) -> None:
        token = envelope.find(f"{{{SOAP12}}}Header/{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
        if token is None:
            raise not_authorized()
        user = token.findtext(f"{{{WSSE}}}Username") or ""
        password = token.find(f"{{{WSSE}}}Password")
        given = (password.text or "").strip() if password is not None else ""
        if password is not None and (password.get("Type") or "").endswith(DIGEST_TYPE_SUFFIX):
            nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce") or "")
            created = (token.findtext(f"{{{WSU}}}Created") or "").encode()
            # digest = Base64(SHA-1(nonce + created + password))
            expected = base64.b64encode(hashlib.sha1(nonce + created + self.password.encode()).digest()).decode()
        else:
            expected = self.password
        if not (hmac.compare_digest(user, self.user) and hmac.compare_digest(given, expected)):
            raise not_authorized()


Handler = Callable[[Any], dict[str, Any]]


class SoapService:
    """One ONVIF service: its WSDL binding, and a handler per operation returning the response's fields."""

    def __init__(self, wsdl: str, binding: str, handlers: dict[str, Handler],
                 credentials: Credentials | None) -> None:
        client = Client(str(WSDL_DIR / wsdl))
        self.binding: Binding = client.wsdl.bindings[binding]
        operations: dict[str, Operation] = self.binding.all()
        self.by_element = {op.input.body.qname: op for op in operations.values()
                           if op.input is not None and op.input.body is not None}
        self.handlers = handlers
        self.credentials = credentials

    def answer(self, body: bytes) -> tuple[int, bytes]:
        envelope = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        request = envelope.find(f"{{{SOAP12}}}Body/*")
        if request is None:
            raise SoapFault("Sender", (ONVIF_ERRORS, "InvalidArgVal"), "empty SOAP body")
        operation = self.by_element.get(etree.QName(request.tag))
        if operation is None or operation.name not in self.handlers:
            raise SoapFault("Receiver", (ONVIF_ERRORS, "ActionNotSupported"), "operation not supported")
        if self.credentials is not None and operation.name not in PRE_AUTH:
            self.credentials.check(envelope)
        assert operation.input is not None and operation.output is not None  # request-response operations
        params = operation.input.deserialize(envelope)
        message = operation.output.serialize(**self.handlers[operation.name](params))
        return 200, bytes(etree.tostring(message.content, xml_declaration=True, encoding="utf-8"))


class SimulatedCamera:
    """The camera's services, bound to the address it advertises."""

    def __init__(self, base_url: str, profiles: Sequence[Profile], identity: Identity,
                 credentials: Credentials | None) -> None:
        self.base_url = base_url
        self.profiles = {p.token: p for p in profiles}
        self.identity = identity
        self.device = SoapService("devicemgmt.wsdl", f"{{{DEVICE_NS}}}DeviceBinding", {
            "GetDeviceInformation": self.device_information,
            "GetCapabilities": self.capabilities,
            "GetServices": self.services,
            "GetSystemDateAndTime": self.system_date_and_time,
        }, credentials)
        self.media = SoapService("media.wsdl", f"{{{MEDIA_NS}}}MediaBinding", {
            "GetProfiles": self.get_profiles,
            "GetStreamUri": self.stream_uri,
            "GetSnapshotUri": self.snapshot_uri,
        }, credentials)

    # --- Device service ----------------------------------------------------------------------------
    def device_information(self, _params: Any) -> dict[str, Any]:
        i = self.identity
        return {"Manufacturer": i.manufacturer, "Model": i.model, "FirmwareVersion": i.firmware,
                "SerialNumber": i.serial, "HardwareId": i.hardware_id}

    def capabilities(self, _params: Any) -> dict[str, Any]:
        return {"Capabilities": {
            "Device": {"XAddr": self.base_url + DEVICE_PATH},
            "Media": {"XAddr": self.base_url + MEDIA_PATH, "StreamingCapabilities": {
                "RTPMulticast": False, "RTP_TCP": True, "RTP_RTSP_TCP": True}},
        }}

    def services(self, _params: Any) -> dict[str, Any]:
        return {"Service": [
            {"Namespace": DEVICE_NS, "XAddr": self.base_url + DEVICE_PATH, "Version": {"Major": 2, "Minor": 60}},
            {"Namespace": MEDIA_NS, "XAddr": self.base_url + MEDIA_PATH, "Version": {"Major": 2, "Minor": 60}},
        ]}

    def system_date_and_time(self, _params: Any) -> dict[str, Any]:
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        return {"SystemDateAndTime": {
            "DateTimeType": "NTP", "DaylightSavings": False, "TimeZone": {"TZ": "UTC0"},
            "UTCDateTime": {"Date": {"Year": now.year, "Month": now.month, "Day": now.day},
                            "Time": {"Hour": now.hour, "Minute": now.minute, "Second": now.second}},
        }}

    # --- Media service -----------------------------------------------------------------------------
    def _profile(self, params: Any) -> Profile:
        # zeep unwraps a request of one element (GetSnapshotUri: just the token) to that element's value.
        token = params if isinstance(params, str) else params.ProfileToken
        profile = self.profiles.get(token)
        if profile is None:
            raise SoapFault("Sender", (ONVIF_ERRORS, "NoProfile"), "no such profile")
        return profile

    def get_profiles(self, _params: Any) -> dict[str, Any]:
        return {"Profiles": [{
            "token": p.token, "fixed": True, "Name": p.token,
            "VideoSourceConfiguration": {
                "token": "vsc0", "Name": "source", "UseCount": len(self.profiles), "SourceToken": "vs0",
                "Bounds": {"x": 0, "y": 0, "width": p.width, "height": p.height},
            },
            "VideoEncoderConfiguration": {
                "token": f"vec-{p.token}", "Name": f"encoder {p.token}", "UseCount": 1, "Encoding": "H264",
                "Resolution": {"Width": p.width, "Height": p.height}, "Quality": 5.0,
                "RateControl": {"FrameRateLimit": p.fps, "EncodingInterval": 1, "BitrateLimit": 2048},
                "H264": {"GovLength": p.fps * 2, "H264Profile": "Main"},
                "Multicast": {"Address": {"Type": "IPv4", "IPv4Address": "0.0.0.0"}, "Port": 0, "TTL": 1,
                              "AutoStart": False},
                "SessionTimeout": "PT60S",
            },
        } for p in self.profiles.values()]}

    def stream_uri(self, params: Any) -> dict[str, Any]:
        profile = self._profile(params)
        return {"MediaUri": {"Uri": profile.rtsp_url, "InvalidAfterConnect": False,
                             "InvalidAfterReboot": False, "Timeout": "PT0S"}}

    def snapshot_uri(self, params: Any) -> dict[str, Any]:
        profile = self._profile(params)
        return {"MediaUri": {"Uri": f"{self.base_url}/snapshot/{profile.token}.jpg", "InvalidAfterConnect": False,
                             "InvalidAfterReboot": False, "Timeout": "PT0S"}}

    # --- HTTP --------------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(DEVICE_PATH, self._route(self.device))
        app.router.add_post(MEDIA_PATH, self._route(self.media))
        return app

    @staticmethod
    def _route(service: SoapService) -> Callable[[web.Request], Any]:
        async def handle(request: web.Request) -> web.Response:
            try:
                status, body = service.answer(await request.read())
            except SoapFault as fault:
                status, body = 400, fault.envelope()
            return web.Response(status=status, body=body, content_type="application/soap+xml", charset="utf-8")

        return handle


_send_message = NetworkingThread._sendMsg


def _send_or_skip(thread: NetworkingThread, message: Any) -> None:
    """WSDiscovery's networking thread ends for good on one reply it cannot send (a unicast ProbeMatch to an
    address of the other family raised socket.gaierror in a CI run while other tests were adding bridges): the
    camera then answers no probe at all. A camera's stack skips that reply and keeps answering."""
    try:
        _send_message(thread, message)
    except OSError as exc:
        print(json.dumps({"event": "reply_not_sent", "error": str(exc)}), file=sys.stderr, flush=True)


NetworkingThread._sendMsg = _send_or_skip


def publish(address: str, xaddr: str, identity: Identity) -> ThreadedWSPublishing:
    """Answer WS-Discovery probes for an ONVIF NetworkVideoTransmitter (and say Hello)."""
    publisher = ThreadedWSPublishing()
    publisher.start()
    scopes = [Scope(f"onvif://www.onvif.org/{key}/{value.replace(' ', '_')}") for key, value in (
        ("type", "video_encoder"), ("name", identity.model), ("hardware", identity.hardware_id),
        ("location", "test_lab"))]
    publisher.publishService(types=[NVT_TYPE], scopes=scopes, xAddrs=[xaddr])
    return publisher


async def serve(args: argparse.Namespace) -> int:
    password = os.environ.get("ONVIF_CAMERA_PASSWORD", "")
    credentials = Credentials(args.user, password) if args.user else None
    profiles = [Profile(token, args.width, args.height, args.fps, args.rtsp_url) for token in args.profiles]
    identity = Identity()
    # Bound first: the services put their own address in answers (XAddrs, snapshot URIs).
    sock = socket.socket(socket.AF_INET6 if ":" in args.address else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.address, args.port))
    port = sock.getsockname()[1]
    host = args.address if ":" not in args.address else f"[{args.address}]"
    base_url = f"http://{host}:{port}"
    runner = web.AppRunner(SimulatedCamera(base_url, profiles, identity, credentials).app())
    await runner.setup()
    await web.SockSite(runner, sock).start()
    xaddr = base_url + DEVICE_PATH
    publisher = publish(args.address, xaddr, identity) if args.discovery else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"event": "ready", "xaddr": xaddr, "port": port, "profiles": args.profiles}), flush=True)
    try:
        await stop.wait()
    finally:
        if publisher is not None:
            publisher.stop()  # sends Bye
        await runner.cleanup()
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="onvif-camera", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--address", default="127.0.0.1", help="address to serve and advertise (default: %(default)s)")
    parser.add_argument("--port", type=int, default=0, help="HTTP port of the ONVIF services; 0 picks one")
    parser.add_argument("--rtsp-url", required=True, help="the stream URI every profile answers with")
    parser.add_argument("--profile", action="append", dest="profiles", help="media profile token, repeatable")
    parser.add_argument("--width", type=int, default=768, help="the profiles' width (default: the test footage's)")
    parser.add_argument("--height", type=int, default=576, help="the profiles' height")
    parser.add_argument("--fps", type=int, default=10, help="the profiles' frame rate limit")
    parser.add_argument("--user", help="require WS-Security UsernameToken auth as this user "
                                       "(password from $ONVIF_CAMERA_PASSWORD)")
    parser.add_argument("--no-discovery", dest="discovery", action="store_false",
                        help="do not answer WS-Discovery probes")
    args = parser.parse_args(argv)
    args.profiles = args.profiles or ["main"]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(serve(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
