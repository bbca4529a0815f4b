"""The Odoo simulator's HTTP face: /jsonrpc, /xmlrpc/2, Odoo 19's /json/2, and helpers for tests and the demo.

Wire details follow a real Odoo 18.0 (see tests/simulators/test_odoo_transcripts.py): JSON-RPC errors
are HTTP 200 with `error.data.name`; a wrong Content-Type or a GET is a 400 Werkzeug page; a body that
is not JSON is a 400 "Invalid JSON data". With `version=19` the server also speaks JSON-2
(`POST /json/2/<model>/<method>`, bearer API key), modelled on Odoo 19's `rpc` addon controller:

- success: 200 with the bare JSON result (recordsets become lists of ids, so `create` answers `[id]`);
- errors: body `{name, message, arguments, context, debug}` with the status of the exception:
  401 werkzeug.exceptions.Unauthorized ("Invalid apikey", or no Authorization header), 404 unknown
  model or method, 422 ids given to a model method or arguments not matching the signature, and for
  Odoo exceptions their `http_status` (UserError/ValidationError 422, AccessError 403, MissingError
  404); any other exception (ValueError for an unknown field, ...) is a 500, as in that controller;
- an unknown `X-Odoo-Database` is routed without a database, hence a 404 page.
On version 18, /json/2 does not exist (404 page) and /web/version is not served.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import random
import re
import secrets
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from ..base import Request, Response, SimulatorServer
from . import models as _models  # noqa: F401  (registers the model classes)
from . import seed as seeding
from .automation import WebhookCall
from .errors import (
    AccessDenied,
    AccessError,
    BadRequest,
    HTTPException,
    MissingError,
    NotFound,
    Unauthorized,
    UnprocessableEntity,
    UserError,
    error_name,
    exception_to_unicode,
    render_traceback,
    werkzeug_html,
)
from .orm import (
    SUPERUSER_ID,
    BaseModel,
    Environment,
    Field,
    Registry,
    implied_closure,
    json_default,
    method_attr,
    public_method,
)
from .services import RPC, current_simulator, dispatch_rpc, filter_kwargs
from .store import Database, Transaction

_logger = logging.getLogger("simulators.odoo.http")

ADMIN_UID = 2
ADMIN_LOGIN = "admin"
ADMIN_PASSWORD = "OdooAdmin18"
BOT_UID = 8
BOT_LOGIN = "aftership-bot"
BOT_API_KEY = "e7cab076b7ad4a90745ab1d66decba764b676077"
DB_NAME = "odoo18"

JSON_MIMETYPES = ("application/json", "application/json-rpc")
# pbkdf2-sha512 rounds of Odoo 18's password hashing (res.users MIN_ROUNDS).
PASSWORD_ROUNDS = 600_000

_VERSIONS = {
    18: ("18.0-20250702", [18, 0, 0, "final", 0, ""], "18.0"),
    19: ("19.0-20251006", [19, 0, 0, "final", 0, ""], "19.0"),
}
_NGINX = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1>"
    "</center>\r\n<hr><center>nginx/1.24.0 (Ubuntu)</center>\r\n</body>\r\n</html>\r\n"
)


class RpcCall(NamedTuple):
    """One model call (execute/execute_kw over JSON-RPC or XML-RPC, or a JSON-2 call)."""

    service: str
    model: str | None
    method: str | None


@dataclass
class RpcLogEntry:
    service: str
    model: str | None
    method: str | None
    uid: int | None
    protocol: str


@dataclass
class ApiKey:
    uid: int
    name: str = ""
    expires_at: datetime | None = None


@dataclass
class UserAuth:
    password: str | None = None
    groups: set[str] = field(default_factory=set)


class _OdooMarshaller(xmlrpc.client.Marshaller):
    """Odoo's OdooMarshaller: datetimes and dates travel as strings, bytes as text."""

    dispatch = dict(xmlrpc.client.Marshaller.dispatch)

    def dump_datetime(self, value, write):
        self.dump_unicode(value.strftime("%Y-%m-%d %H:%M:%S"), write)

    def dump_date(self, value, write):
        self.dump_unicode(value.strftime("%Y-%m-%d"), write)

    def dump_bytes(self, value, write):
        self.dump_unicode(value.decode(), write)

    dispatch[datetime] = dump_datetime
    dispatch[date] = dump_date
    dispatch[bytes] = dump_bytes


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _refuse_recordsets(value: Any) -> None:
    # Odoo recordsets have __slots__, so xmlrpc.client refuses them instead of dumping their attributes.
    if isinstance(value, BaseModel):
        raise TypeError(f"cannot marshal <class 'odoo.api.{value._name}'> objects")
    if isinstance(value, dict):
        for item in value.values():
            _refuse_recordsets(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _refuse_recordsets(item)


def _xml_dumps(value: Any) -> str:
    _refuse_recordsets(value)
    body = _OdooMarshaller(allow_none=False).dumps(value)
    return f'<?xml version="1.0"?>\n<methodResponse>\n{body}\n</methodResponse>\n'


class OdooSimulator(SimulatorServer):
    """A faithful stand-in for an Odoo 18 (or 19) server: one database, real HTTP, Odoo's wire format."""

    name = "odoo"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        version: int = 18,
        db_name: str = DB_NAME,
        seed: int | None = None,
        webhook_timeout: float = 1.0,
        workers: int | None = None,
        password_rounds: int = PASSWORD_ROUNDS,
    ):
        if version not in _VERSIONS:
            raise ValueError(f"unsupported Odoo version {version}; choose one of {sorted(_VERSIONS)}")
        super().__init__(host, port, seed=seed, workers=workers)
        self.password_rounds = password_rounds
        self.cpu_seconds_hashing = 0.0
        self.version = version
        self.db_name = db_name
        self.webhook_timeout = webhook_timeout
        self._warned_deprecated = False
        self._warehouse: threading.Thread | None = None
        self._warehouse_stop = threading.Event()
        self.reset()

    # -- state --------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every record, log, credential, clock change and fault, then reinstall the base data."""
        self.stop_warehouse()
        self.faults.reset()
        with self.lock:
            # A callable returning the current naive-UTC datetime; tests replace it to freeze or move time.
            self.clock: Callable[[], datetime] = _utcnow
            # execute_kw/JSON-2 calls left to fail with psycopg2.errors.SerializationFailure
            self.serialization_failures = 0
            # res.users.check is ormcached on (uid, password): execute_kw checks a key once per process.
            self._checked: set[tuple[int, str]] = set()
            self.db = Database(self.db_name)
            self.registry = Registry()
            self._auth: dict[int, UserAuth] = {}
            self._api_keys: dict[str, ApiKey] = {}
            self.rpc_calls: list[RpcCall] = []
            self.rpc_log: list[RpcLogEntry] = []
            self.webhook_calls: list[WebhookCall] = []
            self.request_log.clear()
        seeding.install_base(self)

    def now(self) -> datetime:
        value = self.clock()
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    @contextmanager
    def transaction(
        self,
        uid: int = SUPERUSER_ID,
        context: Mapping[str, Any] | None = None,
        *,
        now: datetime | None = None,
        su: bool = False,
    ) -> Iterator[Environment]:
        """An ORM environment in one transaction, committed when the block exits without error.

        Changes are invisible to RPC clients until the block ends, and every record written inside it
        gets the transaction's start time as write_date (pass `now` to choose it), which is how a long
        Odoo transaction ends up committing rows stamped in the past.
        """
        txn = Transaction(self.db, now or self.now())
        env = Environment(self, txn, uid, context, su)
        try:
            yield env
        except BaseException:
            txn.rollback()
            raise
        txn.commit()

    def next_sequence(self, key: str) -> int:
        return self.db.next_id(f"ir.sequence:{key}")

    def set_sequence(self, key: str, next_value: int) -> None:
        self.db.bump_sequence(f"ir.sequence:{key}", next_value)

    def take_serialization_failure(self) -> bool:
        with self.lock:
            if self.serialization_failures > 0:
                self.serialization_failures -= 1
                return True
        return False

    def version_info(self) -> dict[str, Any]:
        server_version, info, serie = _VERSIONS[self.version]
        return {
            "server_version": server_version,
            "server_version_info": list(info),
            "server_serie": serie,
            "protocol_version": 1,
        }

    # -- users and credentials ------------------------------------------------------------------------
    def add_user(self, login: str, name: str, *, groups: Sequence[str] = ("base.group_user",)) -> int:
        """Create an internal user (and its partner), without a password; returns the uid."""
        with self.transaction() as env:
            partner = env["res.partner"].create({"name": name}).id
            uid = env["res.users"].create({"name": name, "login": login, "partner_id": partner}).id
        with self.lock:
            self._auth[uid] = UserAuth(groups=set(groups))  # type: ignore[index]
        return uid  # type: ignore[return-value]

    def set_password(self, uid: int, password: str | None) -> None:
        with self.lock:
            self._auth.setdefault(uid, UserAuth()).password = password
            self._checked = {(u, secret) for u, secret in self._checked if u != uid}

    def set_groups(self, uid: int, groups: Sequence[str]) -> None:
        with self.lock:
            self._auth.setdefault(uid, UserAuth()).groups = set(groups)

    def add_api_key(
        self, uid: int, key: str | None = None, *, name: str = "", expires_at: datetime | None = None
    ) -> str:
        """Give `uid` an RPC API key (40 hex chars like Odoo's unless given); returns the key."""
        key = key or secrets.token_hex(20)
        with self.lock:
            self._api_keys[key] = ApiKey(uid=uid, name=name, expires_at=expires_at)
        return key

    def revoke_api_key(self, key: str) -> None:
        with self.lock:
            self._api_keys.pop(key, None)
            self._checked = {(uid, secret) for uid, secret in self._checked if secret != key}

    def set_user_active(self, uid: int, active: bool) -> None:
        self.write("res.users", [uid], {"active": active})

    def user_groups(self, uid: int) -> set[str]:
        if uid == SUPERUSER_ID:
            return implied_closure({"base.group_system", "stock.group_stock_manager", "sales_team.group_sale_manager"})
        auth = self._auth.get(uid)
        return implied_closure(auth.groups) if auth else set()

    def _active_user(self, uid: Any) -> bool:
        row = self.db.committed_row("res.users", uid) if isinstance(uid, int) else None
        return bool(row and row.get("active"))

    def _secret_matches(self, uid: int, secret: Any) -> bool:
        if not secret or not isinstance(secret, str) or not self._active_user(uid):
            return False
        auth = self._auth.get(uid)
        if auth and auth.password is not None and secrets.compare_digest(auth.password, secret):
            return True
        return self.api_key_uid(secret) == uid

    def api_key_uid(self, key: str) -> int | None:
        data = self._api_keys.get(key)
        if data is None or (data.expires_at is not None and data.expires_at <= self.now()):
            return None
        return data.uid if self._active_user(data.uid) else None

    def _verify_password_hash(self) -> None:
        """The CPU Odoo spends verifying the stored password (pbkdf2-sha512, 600,000 rounds in 18.0) before it
        tries the secret as an API key: what makes a login cost half a second of a core (res_users.py,
        `_check_credentials` and `_crypt_context`, read from 18.0 source)."""
        if self.password_rounds <= 0:
            return
        started = time.thread_time()
        hashlib.pbkdf2_hmac("sha512", b"stored password", b"sixteen byte salt", self.password_rounds)
        with self.lock:
            self.cpu_seconds_hashing += time.thread_time() - started

    def authenticate_login(self, login: Any, password: Any) -> int | None:
        for uid, row in self.db.tables.get("res.users", {}).items():
            if row.get("login") == login and row.get("active"):
                self._verify_password_hash()
                return uid if self._secret_matches(uid, password) else None
        return None

    def check_credentials(self, uid: int, secret: Any) -> None:
        """execute_kw's check: costs a password verification the first time a (uid, secret) is seen, then
        comes from res.users.check's ormcache (18.0 source)."""
        if isinstance(secret, str) and (uid, secret) in self._checked and self._secret_matches(uid, secret):
            return
        self._verify_password_hash()
        if not self._secret_matches(uid, secret):
            raise AccessDenied()
        with self.lock:
            self._checked.add((uid, secret))

    # -- schema ---------------------------------------------------------------------------------------
    def add_custom_field(
        self,
        model: str,
        name: str,
        ttype: str = "char",
        string: str | None = None,
        *,
        field_id: int | None = None,
    ) -> int:
        """Create a manual (x_) field like Settings > Technical > Fields would; returns its ir.model.fields id."""
        with self.transaction() as env:
            models = env["ir.model"]
            values = {
                "name": name,
                "model": model,
                "model_id": models._id_for(model),
                "field_description": string or name,
                "ttype": ttype,
                "state": "manual",
            }
            if field_id is not None:
                seeding.insert(env, "ir.model.fields", field_id, **values)
                self._register_custom_field(env["ir.model.fields"]._browse([field_id]))
                return field_id
            return env["ir.model.fields"].create(values).id  # type: ignore[return-value]

    def _register_custom_field(self, record: BaseModel) -> None:
        rid = record.id
        model = record._get(rid, "model")
        if model not in self.registry.fields:
            return
        self.registry.add_field(
            model,
            Field(
                name=record._get(rid, "name"),
                type=record._get(rid, "ttype"),
                string=record._get(rid, "field_description"),
                relation=record._get(rid, "relation") or None,
                required=bool(record._get(rid, "required")),
                readonly=bool(record._get(rid, "readonly")),
                manual=record._get(rid, "state") == "manual",
                field_id=rid,  # type: ignore[arg-type]
            ),
        )

    # -- Python-side helpers for tests and the demo ---------------------------------------------------
    def create(self, model: str, values: Mapping[str, Any], *, uid: int = SUPERUSER_ID) -> int:
        with self.transaction(uid=uid) as env:
            return env[model].create(dict(values)).id  # type: ignore[return-value]

    def write(
        self, model: str, ids: int | Sequence[int], values: Mapping[str, Any], *, uid: int = SUPERUSER_ID
    ) -> None:
        with self.transaction(uid=uid) as env:
            env[model]._browse(ids).write(dict(values))

    def get(self, model: str, rid: int) -> dict[str, Any] | None:
        """The committed row as stored (write_date with microseconds, many2one as ids), or None."""
        row = self.db.committed_row(model, rid)
        return {"id": rid, **row} if row is not None else None

    def records(self, model: str, domain: Sequence | None = None) -> list[dict[str, Any]]:
        """Committed rows of `model` (optionally filtered by an Odoo domain), by id."""
        if domain:
            with self.transaction(context={"active_test": False}) as env:
                ids = env[model]._search(list(domain), order="id")
        else:
            ids = sorted(self.db.tables.get(model, {}))
        return [row for row in (self.get(model, rid) for rid in ids) if row is not None]

    def messages_for(self, model: str, res_id: int) -> list[dict[str, Any]]:
        return [m for m in self.records("mail.message") if m.get("model") == model and m.get("res_id") == res_id]

    def activities_for(self, model: str, res_id: int) -> list[dict[str, Any]]:
        return [a for a in self.records("mail.activity") if a.get("res_model") == model and a.get("res_id") == res_id]

    def validate_picking(
        self,
        picking_id: int,
        tracking_ref: str | None = None,
        *,
        carrier_id: int | None = None,
        uid: int = ADMIN_UID,
    ) -> list[WebhookCall]:
        """Validate a delivery as a warehouse user would (skip_sms), in one transaction.

        Automations fire inside the transaction, so their webhooks go out before the new state is
        visible over RPC. Returns the webhook calls made during the validation.
        """
        before = len(self.webhook_calls)
        with self.transaction(uid=uid, context={"skip_sms": True}) as env:
            picking = env["stock.picking"]._browse([picking_id])
            values: dict[str, Any] = {}
            if tracking_ref is not None:
                values["carrier_tracking_ref"] = tracking_ref
            if carrier_id is not None:
                values["carrier_id"] = carrier_id
            if values:
                picking.write(values)
            picking.button_validate()
        return [c for c in self.webhook_calls[before:] if (c.model, c.record_id) == ("stock.picking", picking_id)]

    def add_webhook_automation(
        self,
        url: str,
        fields: Sequence[str] = ("name", "state", "carrier_id", "carrier_tracking_ref", "sale_id"),
        *,
        name: str = "AfterShip: delivery done webhook",
        action_name: str = "Send Webhook Notification",
        model: str = "stock.picking",
        trigger: str = "on_state_set",
        state: str = "done",
        filter_domain: str | None = "[('state', '=', 'done'), ('picking_type_code', '=', 'outgoing')]",
    ) -> int:
        """Configure base.automation + a "Send Webhook Notification" action, as done in Odoo's UI."""
        with self.transaction() as env:
            field_model = env["ir.model.fields"]
            field_ids = [
                fid for fname in fields for fid in field_model._search([("model", "=", model), ("name", "=", fname)])
            ]
            model_id = env["ir.model"]._id_for(model)
            values: dict[str, Any] = {
                "name": name,
                "model_id": model_id,
                "trigger": trigger,
                "filter_domain": filter_domain or False,
            }
            if trigger in ("on_state_set", "on_stage_set", "on_priority_set"):
                fname = {"on_state_set": "state", "on_stage_set": "stage_id", "on_priority_set": "priority"}[trigger]
                selection = env["ir.model.fields.selection"]._search(
                    [("field_id.model", "=", model), ("field_id.name", "=", fname), ("value", "=", state)]
                )
                values["trg_selection_field_id"] = selection[0] if selection else False
            values["action_server_ids"] = [
                (
                    0,
                    0,
                    {
                        "name": action_name,
                        "model_id": model_id,
                        "state": "webhook",
                        "webhook_url": url,
                        "webhook_field_ids": [(6, 0, field_ids)],
                    },
                )
            ]
            return env["base.automation"].create(values).id  # type: ignore[return-value]

    def start_warehouse(self, interval_seconds: float = 10.0, *, seed: int | None = None) -> None:
        """Validate one ready delivery every interval (creating new ready ones as needed), like a busy warehouse."""
        self.stop_warehouse()
        self._warehouse_stop = threading.Event()
        stop = self._warehouse_stop
        rng = random.Random(seed)

        def loop() -> None:
            while not stop.wait(interval_seconds):
                try:
                    seeding.warehouse_tick(self, rng)
                except Exception:  # the demo must keep running whatever one tick does
                    _logger.exception("warehouse tick failed")

        self._warehouse = threading.Thread(target=loop, name="odoo-sim-warehouse", daemon=True)
        self._warehouse.start()

    def stop_warehouse(self) -> None:
        self._warehouse_stop.set()
        if self._warehouse is not None and self._warehouse is not threading.current_thread():
            self._warehouse.join(timeout=5)
        self._warehouse = None

    def on_stop(self) -> None:
        self.stop_warehouse()

    # -- logs ------------------------------------------------------------------------------------------
    def _log_rpc(self, service: str, model: Any, method: Any, *, uid: int | None = None, protocol: str = "rpc") -> None:
        with self.lock:
            if service == "object":
                self.rpc_calls.append(RpcCall(service, model, method))
            self.rpc_log.append(RpcLogEntry(service, model, method, uid, protocol))

    def clear_log(self) -> None:
        """Forget the requests, RPCs and webhooks logged so far (the records stay)."""
        super().clear_log()
        with self.lock:
            self.rpc_calls.clear()
            self.rpc_log.clear()

    def _record_webhook(self, call: WebhookCall) -> None:
        with self.lock:
            self.webhook_calls.append(call)

    # -- HTTP ------------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        if self.version >= 19 and (path == "/jsonrpc" or path.startswith("/xmlrpc")) and not self._warned_deprecated:
            self._warned_deprecated = True
            _logger.warning(
                "The /xmlrpc, /xmlrpc/2 and /jsonrpc endpoints are deprecated in Odoo 19 and scheduled for "
                "removal in Odoo 20"
            )
        if path == "/jsonrpc":
            return self._serve_jsonrpc(request)
        match = re.fullmatch(r"/xmlrpc/(2/)?([^/]+)", path)
        if match:
            return self._serve_xmlrpc(request, match.group(2), legacy=match.group(1) is None)
        if path == "/web/health":
            return self._json_response({"status": "pass"}, headers={"Cache-Control": "no-store"})
        if self.version >= 19:
            if path == "/web/version":
                _server, info, serie = _VERSIONS[self.version]
                return self._json_response({"version_info": info, "version": serie})
            if path == "/json/2" or path.startswith("/json/2/"):
                return self._serve_json2(request)
        return self._html_error(404, "Not Found", NotFound.default_description)

    def fault_response(self, request: Request, kind: str) -> Response:
        """Odoo behind nginx: a dead upstream is a 502, an overloaded one a 503, both as nginx HTML."""
        status, reason = (502, "Bad Gateway") if kind == "outage" else (503, "Service Temporarily Unavailable")
        body = _NGINX.format(status=status, reason=reason)
        return Response(status=status, body=body.encode(), headers={"Content-Type": "text/html"})

    # responses
    @staticmethod
    def _json_response(
        payload: Any, status: int = 200, headers: dict[str, str] | None = None, nosniff: bool = True
    ) -> Response:
        body = json.dumps(payload, ensure_ascii=False, default=json_default).encode("utf-8")
        all_headers = {"Content-Type": "application/json; charset=utf-8"}
        if nosniff:
            all_headers["X-Content-Type-Options"] = "nosniff"
        all_headers.update(headers or {})
        return Response(status=status, body=body, headers=all_headers)

    @staticmethod
    def _html_error(status: int, title: str, description: str, headers: dict[str, str] | None = None) -> Response:
        all_headers = {"Content-Type": "text/html; charset=utf-8", **(headers or {})}
        return Response(status=status, body=werkzeug_html(status, title, description).encode(), headers=all_headers)

    @staticmethod
    def _mimetype(request: Request) -> str:
        return (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    # /jsonrpc
    def _serve_jsonrpc(self, request: Request) -> Response:
        if self._mimetype(request) not in JSON_MIMETYPES:
            return self._html_error(
                400,
                "Bad Request",
                f"Request inferred type is compatible with ['http'] but '{request.path}' is type='json'.",
            )
        try:
            data = json.loads(request.body.decode("utf-8", errors="replace"))
        except ValueError:
            return Response(
                400,
                b"Invalid JSON data",
                {"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff"},
            )
        try:
            request_id = data.get("id")
        except AttributeError:
            return Response(
                400,
                b"Invalid JSON-RPC data",
                {"Content-Type": "text/html; charset=utf-8", "X-Content-Type-Options": "nosniff"},
            )
        token = current_simulator.set(self)
        try:
            params = dict(data.get("params", {}))
            result = RPC().jsonrpc(**filter_kwargs(params, ("service", "method", "args")))
        except Exception as exc:
            return self._jsonrpc_error(request_id, exc)
        finally:
            current_simulator.reset(token)
        envelope: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
        if result is not None:
            envelope["result"] = result
        try:
            return self._json_response(envelope)
        except Exception as exc:
            return self._jsonrpc_error(request_id, exc)

    def _jsonrpc_error(self, request_id: Any, exc: BaseException) -> Response:
        self._log_error(exc)
        data = {
            "name": error_name(exc),
            "debug": render_traceback(exc),
            "message": exception_to_unicode(exc),
            "arguments": list(exc.args),
            "context": getattr(exc, "context", {}),
        }
        envelope = {
            "jsonrpc": "2.0",
            "id": request_id,
            "error": {"code": 200, "message": "Odoo Server Error", "data": data},
        }
        return self._json_response(envelope, nosniff=False)

    @staticmethod
    def _log_error(exc: BaseException) -> None:
        if isinstance(exc, UserError):
            _logger.info("%s: %s", error_name(exc), exception_to_unicode(exc))
        else:
            _logger.info("Exception during request handling: %s", error_name(exc), exc_info=exc)

    # /xmlrpc/2/<service>, /xmlrpc/<service>
    def _serve_xmlrpc(self, request: Request, service: str, *, legacy: bool) -> Response:
        if request.method != "POST":
            return self._html_error(
                405,
                "Method Not Allowed",
                "The method is not allowed for the requested URL.",
                headers={"Allow": "OPTIONS, POST"},
            )
        token = current_simulator.set(self)
        try:
            params, method = xmlrpc.client.loads(request.body)
            result = dispatch_rpc(service, method, params)
            body = _xml_dumps((result,))
            headers = {"Content-Type": "text/xml; charset=utf-8", "X-Content-Type-Options": "nosniff"}
        except Exception as exc:
            self._log_error(exc)
            body = _xml_dumps(self._xmlrpc_fault(exc, legacy))
            headers = {"Content-Type": "text/xml; charset=utf-8"}
        finally:
            current_simulator.reset(token)
        return Response(200, body.encode("utf-8"), headers)

    @staticmethod
    def _xmlrpc_fault(exc: BaseException, legacy: bool) -> xmlrpc.client.Fault:
        text = str(exc.args[0]) if exc.args else str(exc)
        if not legacy:
            if isinstance(exc, AccessError):
                return xmlrpc.client.Fault(4, text)
            if isinstance(exc, AccessDenied):
                return xmlrpc.client.Fault(3, text)
            if isinstance(exc, UserError):
                return xmlrpc.client.Fault(2, text)
            return xmlrpc.client.Fault(1, render_traceback(exc))
        if isinstance(exc, MissingError):
            return xmlrpc.client.Fault("warning -- MissingError\n\n" + text, "")
        if isinstance(exc, AccessError):
            return xmlrpc.client.Fault("warning -- AccessError\n\n" + text, "")
        if isinstance(exc, AccessDenied):
            return xmlrpc.client.Fault("AccessDenied", text)
        if isinstance(exc, UserError):
            return xmlrpc.client.Fault("warning -- UserError\n\n" + text, "")
        return xmlrpc.client.Fault(exception_to_unicode(exc), render_traceback(exc))

    # /json/2/<model>/<method> (Odoo 19)
    def _serve_json2(self, request: Request) -> Response:
        parts = request.path.split("/")
        rpc_route = len(parts) == 5 and bool(parts[3]) and bool(parts[4]) and request.method == "POST"
        route = "/json/2/<model>/<method>" if rpc_route else "/json/2"
        if self._mimetype(request) != "application/json":
            compatible = ["json", "/json/2/rpc"] if self._mimetype(request) in JSON_MIMETYPES else ["http"]
            return self._html_error(
                400,
                "Bad Request",
                f"Request inferred type is compatible with {compatible} but '{route}' is type='/json/2/rpc'.",
            )
        database = request.headers.get("X-Odoo-Database")
        if database and database != self.db_name:
            return self._html_error(404, "Not Found", NotFound.default_description)
        token = current_simulator.set(self)
        try:
            if not rpc_route:
                raise NotFound("Did you mean POST /json/2/<model>/<method>?")
            uid = self._bearer_uid(request)
            params: dict[str, Any] = {}
            if request.body:
                try:
                    params |= json.loads(request.body.decode("utf-8", errors="replace"))
                except ValueError as exc:
                    raise BadRequest(f"could not parse the body as json: {exc.args[0]}") from exc
                except TypeError as exc:
                    raise BadRequest("could not parse the body, expecting a json object") from exc
            result = self._json2_call(uid, parts[3], parts[4], params)
            return self._json_response(result)
        except Exception as exc:
            return self._json2_error(exc)
        finally:
            current_simulator.reset(token)

    def _bearer_uid(self, request: Request) -> int:
        header = request.headers.get("Authorization") or ""
        match = re.match(r"^bearer\s+(.+)$", header, re.IGNORECASE)
        challenge = {"WWW-Authenticate": "Bearer"}
        if not match:
            raise Unauthorized('User not authenticated, use the "Authorization" header', headers=challenge)
        uid = self.api_key_uid(match.group(1).strip())
        if uid is None:
            raise Unauthorized("Invalid apikey", headers=challenge)
        return uid

    def _json2_call(self, uid: int, model_name: str, method_name: str, params: dict[str, Any]) -> Any:
        ids = params.pop("ids", ())
        context = params.pop("context", {})
        self._log_rpc("object", model_name, method_name, uid=uid, protocol="json2")
        with self.transaction(uid=uid) as env:
            model = env.get(model_name)
            if model is None:
                raise NotFound(f"the model {model_name!r} does not exist")
            try:
                func = public_method(model, method_name)
            except AttributeError as exc:
                raise NotFound(exc.args[0]) from exc
            if method_attr(type(model), method_name, "_api") in ("model", "model_create") and ids:
                raise UnprocessableEntity(f"cannot call {model_name}.{method_name} with ids")
            records = model.with_context(context)._browse(ids)
            try:
                inspect.signature(func).bind(records, **params)
            except TypeError as exc:
                raise UnprocessableEntity(exc.args[0]) from exc
            if self.take_serialization_failure():
                from .errors import SerializationFailure

                raise SerializationFailure("could not serialize access due to concurrent update\n")
            result = func(records, **params)
            if isinstance(result, BaseModel):
                result = result.ids
        return result

    def _json2_error(self, exc: BaseException) -> Response:
        self._log_error(exc)
        headers: dict[str, str] = {}
        if isinstance(exc, HTTPException):
            status = exc.code
            message: Any = exc.description
            arguments: list[Any] = [exc.description, exc.code]
            headers = dict(exc.headers)
        else:
            status = getattr(exc, "http_status", 500) if isinstance(exc, UserError) else 500
            message = exception_to_unicode(exc)
            arguments = list(exc.args)
        body = {
            "name": error_name(exc),
            "message": message,
            "arguments": arguments,
            "context": getattr(exc, "context", {}),
            "debug": render_traceback(exc),
        }
        return self._json_response(body, status=status, headers=headers, nosniff=False)
