"""``guardian-cloud``: the cloud's operator command line.

    guardian-cloud check-config            validate settings (file + GUARDIAN_CLOUD_* + credentials)
    guardian-cloud show-config             print the effective settings (secrets masked)
    guardian-cloud keygen                  print a new Ed25519 signing key (for GUARDIAN_CLOUD_SIGNING_KEY)
    guardian-cloud vapid-keygen            print a new VAPID key for push notifications (push.vapid_private_key)
    guardian-cloud migrate [--revision R]  upgrade the database schema (Alembic)
    guardian-cloud serve                   run the API (uvicorn)
    guardian-cloud create-admin EMAIL      create a platform operator (password from stdin or a prompt)
    guardian-cloud relays register NAME --endpoint URL [--enrolment-endpoint HOST:PORT] (--public-key=KEY | --generate-key)
    guardian-cloud relays list
    guardian-cloud tenants list
    guardian-cloud cleanup                 run retention once
    guardian-cloud edge-image-xz           compress the configured edge image for the .img.xz download, now
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cloud.core.config import CONFIG_ENV, DEFAULT_CONFIG, CloudSettings, load_cloud_settings
from guardian.contracts import auth
from guardian.runtime.cli import add_config_argument, add_config_commands, run_cli, start_logging
from guardian.runtime.errors import EX_USAGE, GuardianError


class CliError(GuardianError):
    exit_code = EX_USAGE


def _settings(args: argparse.Namespace) -> CloudSettings:
    return load_cloud_settings(args.config)


def _summary(settings: CloudSettings) -> str:
    backend = "postgresql" if settings.database.is_postgres else "sqlite"
    oidc = "on" if settings.oidc.enabled else "off"
    key_id = auth.key_id(auth.private_key_from_text(settings.signing_key.get_secret_value()))
    return f"database: {backend}, oidc: {oidc}, signing key id: {key_id}"


def _sessions(settings: CloudSettings) -> sessionmaker[Session]:
    from cloud.core.db import make_engine, make_sessionmaker

    return make_sessionmaker(make_engine(settings.database.url))


def _keygen(_args: argparse.Namespace) -> int:
    key = auth.generate_private_key()
    print(json.dumps({"signing_key": auth.private_key_to_text(key), "public_key": auth.public_key_to_text(key),
                      "kid": auth.key_id(key)}, indent=2))
    return 0


def _vapid_keygen(_args: argparse.Namespace) -> int:
    from cloud.core.webpush import generate_private_key

    private, public = generate_private_key()
    print(json.dumps({"vapid_private_key": private, "public_key": public}, indent=2))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from cloud.core.db import migrate

    settings = _settings(args)
    start_logging(settings, settings.log_level)
    migrate(settings.database.url, args.revision)
    print(f"database at revision {args.revision}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from cloud.core.db import current_revision, make_engine
    from cloud.server import serve

    settings = _settings(args)
    workers = args.workers or settings.http.workers
    if workers < 1:
        raise CliError("--workers must be at least 1")
    start_logging(settings, settings.log_level)
    if current_revision(make_engine(settings.database.url)) is None:
        raise GuardianError("database has no schema; run `guardian-cloud migrate` first")
    serve(settings, args.config, host=args.host or settings.http.host, port=args.port or settings.http.port,
          workers=workers)
    return 0


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
    if len(password) < 12:
        raise CliError("password must be at least 12 characters")
    from cloud.core.errors import ApiError
    from cloud.services.accounts import check_password_strength

    try:  # the same policy as sign-up
        check_password_strength(password, email=args.email)
    except ApiError as exc:
        raise CliError(exc.message) from None
    return password


def _create_admin(args: argparse.Namespace) -> int:
    from cloud.core.security import hash_password
    from cloud.tables import User

    settings = _settings(args)
    password = _read_password(args)
    with _sessions(settings)() as session:
        session.add(User(email=args.email.lower(), password_hash=hash_password(password), is_operator=True, role="admin"))
        try:
            session.commit()
        except IntegrityError:
            raise CliError("an account with this e-mail exists") from None
    print("operator account created")
    return 0


def _relay_register(args: argparse.Namespace) -> int:
    from cloud.api.routes.relays import register_relay
    from cloud.api.schemas import RelayCreate
    from cloud.core.errors import ApiError

    if bool(args.public_key) == bool(args.generate_key):
        raise CliError("give exactly one of --public-key or --generate-key")
    private = auth.generate_private_key() if args.generate_key else None
    public = auth.public_key_to_text(private) if private else args.public_key
    settings = _settings(args)
    try:
        body = RelayCreate(name=args.name, endpoint_url=args.endpoint, public_key=public,
                           enrolment_endpoint=args.enrolment_endpoint)
    except ValueError as exc:
        raise CliError(f"invalid relay: {str(exc).splitlines()[0]}") from None
    with _sessions(settings)() as session:
        try:
            relay = register_relay(session, body)
            session.commit()
        except ApiError as exc:
            raise CliError(exc.message) from None
        out = {"id": relay.id, "name": relay.name, "endpoint_url": relay.endpoint_url,
               "enrolment_endpoint": relay.enrolment_endpoint, "public_key": relay.public_key}
    if private is not None:
        # Shown once: install it on the relay as a credential; the cloud keeps only the public half.
        out["private_key"] = auth.private_key_to_text(private)
    print(json.dumps(out, indent=2))
    return 0


def _relay_list(args: argparse.Namespace) -> int:
    from cloud.tables import Relay

    with _sessions(_settings(args))() as session:
        for r in session.scalars(select(Relay).order_by(Relay.created_at)):
            seen = r.last_seen_at.isoformat() if r.last_seen_at else "never"
            print(f"{r.id}  {r.name:20}  {r.endpoint_url:40}  tenant={r.tenant_id or '-':36}  "
                  f"{'enabled' if r.enabled else 'disabled'}  last_seen={seen}")
    return 0


def _tenant_list(args: argparse.Namespace) -> int:
    from cloud.tables import Relay, Tenant, User

    with _sessions(_settings(args))() as session:
        members = dict(session.execute(select(User.tenant_id, func.count()).group_by(User.tenant_id)).all())
        relays = dict(session.execute(select(Relay.tenant_id, Relay.name).where(Relay.tenant_id.is_not(None))).all())
        for t in session.scalars(select(Tenant).order_by(Tenant.created_at)):
            print(f"{t.id}  plan={t.plan:6}  members={members.get(t.id, 0):<3}  relay={relays.get(t.id, '-')}")
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from cloud.core.db import session_scope
    from cloud.services.retention import cleanup

    settings = _settings(args)
    with session_scope(_sessions(settings)) as session:
        print(json.dumps(cleanup(session, settings.auth.throttle_window_seconds)))
    return 0


def _edge_image_xz(args: argparse.Namespace) -> int:
    """Ahead of time what the cloud otherwise does in the background at the first request (once per image).
    Its log lines (JSON on stdout) tell the progress and, at the end, the parts' sizes."""
    from cloud.services import edge_image, edge_image_xz
    from guardian.runtime.logging import get_logger

    settings = _settings(args)
    if settings.edge_image.path is None:
        raise CliError("no edge image is configured (edge_image.path)")
    if settings.edge_image.xz_cache_dir is None:
        raise CliError("no directory for the compressed image is configured (edge_image.xz_cache_dir)")
    start_logging(settings, settings.log_level)
    log = get_logger("cloud.edge_image")
    edge_image_xz.compress(edge_image.generic_image(settings.edge_image.path), settings.edge_image.xz_cache_dir,
                           lambda done, total: log.info("edge_image_xz_progress", percent=100 * done // total))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="guardian-cloud", description="Guardian cloud control plane")
    sub = parser.add_subparsers(metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
        handler: Callable[[argparse.Namespace], int], help_text: str, config: bool = True,
    ) -> argparse.ArgumentParser:
        cmd = parent.add_parser(name, help=help_text, description=help_text)
        if config:
            add_config_argument(cmd, DEFAULT_CONFIG, CONFIG_ENV)
        cmd.set_defaults(handler=handler)
        return cmd

    add_config_commands(sub, default_path=DEFAULT_CONFIG, env_var=CONFIG_ENV, load=load_cloud_settings, summary=_summary)
    command(sub, "keygen", _keygen, "print a new Ed25519 token-signing key", config=False)
    command(sub, "vapid-keygen", _vapid_keygen, "print a new VAPID key pair for push notifications", config=False)
    m = command(sub, "migrate", _migrate, "upgrade the database schema")
    m.add_argument("--revision", default="head", help="target revision (default: head)")
    s = command(sub, "serve", _serve, "run the HTTP API")
    s.add_argument("--host", default=None)
    s.add_argument("--port", type=int, default=None)
    s.add_argument("--workers", type=int, default=None, help="worker processes (default: http.workers; >1 needs PostgreSQL)")
    a = command(sub, "create-admin", _create_admin, "create a platform operator account")
    a.add_argument("email")
    a.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    command(sub, "cleanup", _cleanup, "run retention cleanup once")
    command(sub, "edge-image-xz", _edge_image_xz,
            "compress the configured edge image for the .img.xz download now (else done at its first request)")

    relays = sub.add_parser("relays", help="manage the relay pool").add_subparsers(metavar="ACTION")
    r = command(relays, "register", _relay_register, "register a pre-provisioned relay")
    r.add_argument("name")
    r.add_argument("--endpoint", required=True, help="the relay's public URL, e.g. https://relay-7.example")
    r.add_argument("--enrolment-endpoint", default=None,
                   help="host:port edges enrol at, if not the host and port of --endpoint (e.g. relay-7.example:8443)")
    r.add_argument("--public-key", help="the relay's Ed25519 public key (base64url; write --public-key=KEY, as a key may start with -)")
    r.add_argument("--generate-key", action="store_true", help="make a key pair; print the private key once")
    command(relays, "list", _relay_list, "list relays")
    tenants = sub.add_parser("tenants", help="inspect tenants").add_subparsers(metavar="ACTION")
    command(tenants, "list", _tenant_list, "list tenants")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
