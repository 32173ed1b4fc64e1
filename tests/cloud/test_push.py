"""Web Push notifications end to end: a relay's batch stores a new event, the cloud pushes it to the member's
subscribed browser through a local RFC 8030 push service, which checks the VAPID JWT and decrypts the
payload with the keys the test made (tests/fakes/push_service.py). Rules filter; 410 forgets the browser."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.edge.events.store import to_proto
from agents.relay.db.tables import CachedEvent
from agents.relay.forwarder import summarise
from cloud.api.main import create_app
from cloud.core.webpush import application_server_key, generate_private_key, load_vapid
from guardian.contracts.cloud.v1 import ingest_pb2
from tests.cloud import batches
from tests.cloud.conftest import add_relay, login, make_settings, signup, test_client
from tests.edge.events import parked
from tests.fakes.push_service import Browser, PushService, push_service

CONTACT = "mailto:ops@guardian.example.org"


@pytest.fixture
def push() -> Iterator[PushService]:
    with push_service() as service:
        yield service


@pytest.fixture
def push_settings(db_url: str, signing_key: Any, push: PushService) -> Any:
    private, _public = generate_private_key()
    return make_settings(db_url, signing_key, push={"vapid_private_key": private, "contact": CONTACT,
                                                    "endpoint_origins": [push.url]})


class Site:
    """A tenant with a relay, one device with two cameras, and its admin's client."""

    def __init__(self, client: Any, app: Any, name: str) -> None:
        self.client, self.app = client, app
        self.relay = add_relay(app, f"relay-{name}")
        self.member = signup(client, f"admin@{name}.example.org", tenant=name)
        self.device = f"edge-{name}"
        self.ingest([], healths=[batches.health(self.device, {"porch": "streaming", "drive": "streaming"})])
        cameras = {c["name"]: c for c in client.get("/api/v1/cameras", headers=self.member.auth).json()}
        self.camera_ids = {name: c["id"] for name, c in cameras.items()}

    def ingest(self, events: list[Any], healths: list[Any] = ()) -> None:  # type: ignore[assignment]
        r = self.relay.post(self.client, "/api/v1/ingest", batches.batch(self.relay.id, events=events, healths=healths))
        assert r.status_code == 200, r.text

    def event(self, camera: str = "porch", label: str = "person", zones: tuple[str, ...] = ("gate",),
              **kw: Any) -> Any:
        return batches.event(self.device, camera, label, datetime.now(UTC) - timedelta(seconds=2), zones=zones, **kw)

    def subscribe(self, browser: Browser) -> str:
        r = self.client.post("/api/v1/notifications/subscriptions", headers=self.member.auth, json=browser.subscription())
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def settle(self) -> None:
        """Wait until the app's dispatcher has claimed and sent all it heard of (SQLite: heard at commit)."""
        self.client.portal.call(self.app.state.push.dispatcher.idle)


def _wait_listening(app: Any) -> None:
    bus = app.state.cloud.bus
    if hasattr(bus, "listening"):  # PostgreSQL: announcements come back through LISTEN
        deadline = time.monotonic() + 10
        while not bus.listening.is_set():
            assert time.monotonic() < deadline, "LISTEN not established"
            time.sleep(0.01)


def test_new_event_is_pushed_once_with_its_summary_only(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site = Site(client, app, "alpha")
        r = client.patch(f"/api/v1/cameras/{site.camera_ids['porch']}", headers=site.member.auth,
                         json={"display_name": "Front porch"})
        assert r.status_code == 200, r.text
        key = client.get("/api/v1/notifications/vapid-key", headers=site.member.auth).json()
        assert key == {"enabled": True, "public_key": application_server_key(load_vapid(push_settings.push))}
        browser = push.browser()
        site.subscribe(browser)

        ev = site.event(zones=("gate", "path"), seconds=None, has_clip=False)
        site.ingest([ev])
        got = push.next()
        assert got.token == browser.token
        assert got.payload == {
            "event_id": ev.event_id, "review_item": ev.event_id,  # an event without an item is an item of one
            "label": "person", "camera": "Front porch", "zones": ["gate", "path"],
            "start": ev.start.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
            "url": f"/events/{ev.event_id}",
        }
        assert got.vapid_claims["sub"] == CONTACT and got.vapid_key == key["public_key"]
        assert got.ttl == push_settings.push.ttl_seconds

        # A retried batch and a newer version of the event (its end and clip) notify nobody again; a
        # second event does (and, heard after them, proves they were handled).
        site.ingest([ev])
        later = site.event(seconds=8, has_clip=True, event_id=ev.event_id, zones=("gate", "path"))
        site.ingest([later])
        second = site.event(label="car")
        site.ingest([second])
        assert push.next().payload["event_id"] == second.event_id
        site.settle()
        assert push.received.empty(), push.received.get_nowait()
        assert push.refused.empty()


def test_rules_filter_by_camera_label_zone_and_quiet_hours(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site, other = Site(client, app, "alpha"), Site(client, app, "bravo")
        # A second member of alpha with the default rules (everything) witnesses each batch: once their
        # pushes for it arrived, the batch was claimed for every member (one claim per announcement).
        r = client.post("/api/v1/tenant/members", headers=site.member.auth, json={
            "email": "witness@alpha.example.org", "password": "witness password 1", "role": "viewer"})
        assert r.status_code == 201, r.text
        witness_auth = {"Authorization": f"Bearer {login(client, 'witness@alpha.example.org', 'witness password 1')}"}
        mine, witness, theirs = push.browser(), push.browser(), push.browser()
        site.subscribe(mine)
        assert client.post("/api/v1/notifications/subscriptions", headers=witness_auth,
                           json=witness.subscription()).status_code == 201
        other.subscribe(theirs)
        rules = {"enabled": True, "cameras": [site.camera_ids["porch"]], "labels": ["person"], "zones": ["gate"],
                 "quiet_hours": None, "time_zone": "Asia/Tokyo", "severity": "all"}
        got: list[str] = []

        def ingest_and_wait(events: list[Any]) -> None:
            site.ingest(events)
            seen = 0
            while seen < len(events):
                received = push.next()
                if received.token == witness.token:
                    seen += 1
                else:
                    got.append(received.payload["event_id"])
            site.settle()

        def set_rules(**changes: Any) -> None:
            r = client.put("/api/v1/notifications/rules", headers=site.member.auth, json={**rules, **changes})
            assert r.status_code == 200 and r.json() == {**rules, **changes}, r.text

        set_rules()
        wanted = site.event()
        ingest_and_wait([site.event(camera="drive"), site.event(label="car"), site.event(zones=()), wanted])
        # Quiet hours around now in Tokyo: nothing, whatever matches.
        tokyo = datetime.now(ZoneInfo("Asia/Tokyo"))
        set_rules(quiet_hours={"start": (tokyo - timedelta(hours=1)).strftime("%H:%M"),
                               "end": (tokyo + timedelta(hours=1)).strftime("%H:%M")})
        ingest_and_wait([site.event()])
        set_rules(enabled=False)  # switched off: nothing either
        ingest_and_wait([site.event()])
        set_rules()
        last = site.event()
        ingest_and_wait([last])

        while not push.received.empty():
            got.append(push.next().payload["event_id"])
        assert got == [wanted.event_id, last.event_id]
        assert theirs.token not in push.posts  # the other tenant's browser heard nothing of alpha's events


def _second_member(client: Any, site: Site, push: PushService) -> tuple[dict[str, str], Browser]:
    """A viewer of ``site`` with a subscribed browser: (their auth headers, their browser)."""
    r = client.post("/api/v1/tenant/members", headers=site.member.auth, json={
        "email": "second@alpha.example.org", "password": "second password 1", "role": "viewer"})
    assert r.status_code == 201, r.text
    auth = {"Authorization": f"Bearer {login(client, 'second@alpha.example.org', 'second password 1')}"}
    browser = push.browser()
    r = client.post("/api/v1/notifications/subscriptions", headers=auth, json=browser.subscription())
    assert r.status_code == 201, r.text
    return auth, browser


def _alert(event: Any) -> Any:
    event.severity = ingest_pb2.SEVERITY_ALERT
    return event


def test_a_visit_notifies_each_member_once_per_review_item(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site = Site(client, app, "alpha")
        mine = push.browser()
        site.subscribe(mine)
        _auth, second = _second_member(client, site, push)

        # A walker: five events of one review item, two in one batch, the rest one by one, and a newer
        # version of the first; then a second item, and an event the edge grouped into no item.
        walk = str(uuid.uuid4())
        walker = [site.event(review_item=walk, seconds=None) for _ in range(5)]
        site.ingest(walker[:2])
        for ev in walker[2:]:
            site.ingest([ev])
        site.ingest([site.event(review_item=walk, seconds=6, event_id=walker[0].event_id)])
        later_item = site.event(camera="drive", label="car", review_item=str(uuid.uuid4()))
        site.ingest([later_item])
        alone = site.event()
        site.ingest([alone])

        heard: dict[str, list[tuple[str, str]]] = {mine.token: [], second.token: []}
        for _ in range(6):  # the last two pushes were heard after the walker's: those were all handled
            got = push.next()
            heard[got.token].append((got.payload["review_item"], got.payload["event_id"]))
        site.settle()
        assert push.received.empty(), push.received.get_nowait()
        wanted = [(walk, walker[0].event_id), (later_item.review_item, later_item.event_id),
                  (alone.event_id, alone.event_id)]
        assert {token: sorted(got) for token, got in heard.items()} == {mine.token: sorted(wanted),
                                                                      second.token: sorted(wanted)}
        assert push.refused.empty()


def test_alerts_only_waits_for_the_items_alert_and_each_members_rules_hold(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site = Site(client, app, "alpha")
        mine = push.browser()
        site.subscribe(mine)
        second_auth, second = _second_member(client, site, push)
        r = client.put("/api/v1/notifications/rules", headers=second_auth, json={"severity": "alert"})
        assert r.status_code == 200 and r.json()["severity"] == "alert", r.text
        assert client.get("/api/v1/notifications/rules", headers=site.member.auth).json()["severity"] == "all"
        r = client.put("/api/v1/notifications/rules", headers=second_auth, json={"severity": "critical"})
        assert r.status_code == 422, r.text

        # The visit starts as a detection (in no alert zone) and becomes an alert when the walker reaches
        # one: the alerts-only member hears of it then, once; the other member heard of it at its start.
        walk = str(uuid.uuid4())
        first = site.event(review_item=walk, seconds=None)
        site.ingest([first])
        assert (got := push.next()).token == mine.token and got.payload["event_id"] == first.event_id
        site.settle()
        alert = _alert(site.event(review_item=walk, seconds=None))
        site.ingest([alert, _alert(site.event(review_item=walk))])
        assert (got := push.next()).token == second.token and got.payload["event_id"] == alert.event_id
        # An item of detections only: the alerts-only member hears nothing of it; the first event's rise to
        # an alert (a newer version) does not notify its item again.
        detections = site.event(camera="drive", label="car", review_item=str(uuid.uuid4()))
        site.ingest([detections, _alert(site.event(review_item=walk, seconds=9, event_id=first.event_id))])
        assert (got := push.next()).token == mine.token and got.payload["event_id"] == detections.event_id
        site.settle()
        assert push.received.empty(), push.received.get_nowait()


def test_gone_subscription_is_forgotten_and_unanswered_sends_retried(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site = Site(client, app, "alpha")
        gone, flaky = push.browser(), push.browser()
        site.subscribe(gone)
        flaky_id = site.subscribe(flaky)
        push.answer(gone, 410)
        push.answer(flaky, 503, 429)
        ev = site.event()
        site.ingest([ev])
        got = push.next()
        assert (got.token, got.payload["event_id"]) == (flaky.token, ev.event_id)
        assert push.posts == {gone.token: 1, flaky.token: 3}
        site.settle()
        subscriptions = client.get("/api/v1/notifications/subscriptions", headers=site.member.auth).json()
        assert [s["id"] for s in subscriptions] == [flaky_id]


def test_ingest_does_not_wait_for_push_services(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site = Site(client, app, "alpha")
        site.subscribe(push.browser())
        release = push.hold()
        try:
            ev = site.event()
            site.ingest([ev])  # answered while the push service holds the push unanswered
            second = site.event(label="car")
            site.ingest([second])
            assert push.received.empty()
        finally:
            release.set()
        assert {push.next().payload["event_id"], push.next().payload["event_id"]} == {ev.event_id, second.event_id}


def test_subscriptions_belong_to_their_member(push_settings, push) -> None:
    app = create_app(push_settings)
    with test_client(app) as client:
        site = Site(client, app, "alpha")
        browser = push.browser()
        sub_id = site.subscribe(browser)
        # The same browser again renews its keys (200), it is not a second subscription.
        again = client.post("/api/v1/notifications/subscriptions", headers=site.member.auth, json=browser.subscription())
        assert again.status_code == 200 and again.json()["id"] == sub_id
        bad = {**browser.subscription(), "keys": {"p256dh": "A" * 87, "auth": browser.subscription()["keys"]["auth"]}}
        r = client.post("/api/v1/notifications/subscriptions", headers=site.member.auth, json=bad)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_subscription"
        # Only push services the cloud is configured for: never an address a member made up.
        for endpoint in ("http://169.254.169.254/latest/meta-data", "https://fcm.googleapis.com/fcm/send/x"):
            r = client.post("/api/v1/notifications/subscriptions", headers=site.member.auth,
                            json={**browser.subscription(), "endpoint": endpoint})
            assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_subscription", r.text
        r = client.put("/api/v1/notifications/rules", headers=site.member.auth, json={"time_zone": "Mars/Olympus"})
        assert r.status_code == 422
        assert client.delete(f"/api/v1/notifications/subscriptions/{sub_id}", headers=site.member.auth).status_code == 204
        assert client.get("/api/v1/notifications/subscriptions", headers=site.member.auth).json() == []


def test_a_parked_car_that_drives_off_notifies_again(push_settings, push, tmp_path) -> None:
    """The edge's real tracker and event manager (tests/edge/events/parked.py): a car parked since the detector
    started drives off a minute later. The member hears of it when it is first seen, and again when it drives
    off: the edge ends its event there and begins a new one, in a new review item (it used to move the one event
    to a new item, which the cloud had notified of already: silence)."""
    app = create_app(push_settings)
    with test_client(app) as client:
        _wait_listening(app)
        site = Site(client, app, "alpha")
        site.subscribe(push.browser())

        def summaries(rows: Sequence[Any]) -> list[Any]:  # what the relay makes of the edge's newest versions
            return [summarise(CachedEvent(event_id=row.id, device_id=site.device, camera=row.camera, label=row.label,
                                          start=row.start_at, end=row.end_at, max_score=row.max_score, clip_ref="",
                                          payload=to_proto(row).SerializeToString())) for row in rows]

        def uplink(t: float, rows: Sequence[Any]) -> None:
            if t == 30:  # the car stands there
                site.ingest(summaries(rows))

        rows, _ = parked.run(tmp_path, time.time() - 90, at=uplink)
        arrived = push.next().payload
        site.ingest(summaries(rows))
        drove_off = push.next().payload
        site.settle()
        assert push.received.empty(), push.received.get_nowait()
    standing, leaving = rows
    assert (arrived["event_id"], arrived["review_item"], arrived["label"]) == (standing.id, standing.review_item, "car")
    assert (drove_off["event_id"], drove_off["review_item"], drove_off["label"]) == (leaving.id, leaving.review_item, "car")
