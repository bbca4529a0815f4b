"""Client for Odoo's external API: JSON-RPC (`/jsonrpc`, Odoo 17/18) and JSON-2 (`/json/2`, Odoo 19).

Both transports sit behind one interface (`OdooClient.call(model, method, *args, **kwargs)`) and turn
Odoo's error objects into the typed exceptions below, which callers act on: authentication stops
the work, access and validation errors need a person, transient errors are retried later.

A login costs Odoo half a second of CPU (it checks the password hash before the API key), so the
portal logs in once: every client, in every thread of every worker process, reuses that uid (kept in
the process and in the shared cache) until Odoo refuses it; then one login again, and the call is made
once more. Each thread keeps its HTTP connections to Odoo open between clients (keep-alive).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

USER_AGENT = "shiptrack-portal/0.1 (+odoo-aftership)"


def odoo_major(version: dict) -> int:
    """The major version from `common.version`'s answer (18 when it cannot be read, e.g. saas~17.2)."""
    info = version.get("server_version_info") or []
    try:
        return int(info[0])
    except (IndexError, TypeError, ValueError):
        return 18


class OdooError(Exception):
    """Odoo refused or failed a call; `name` is Odoo's exception class (e.g. odoo.exceptions.UserError)."""

    retryable = False

    def __init__(self, message: str, *, name: str = "", model: str = "", method: str = ""):
        super().__init__(message)
        self.message = message
        self.name = name
        self.model = model
        self.method = method

    def __str__(self) -> str:
        where = f"{self.model}.{self.method}: " if self.model else ""
        return f"{where}{self.message}"


class OdooAuthError(OdooError):
    """The login or API key was refused (AccessDenied, expired or revoked key, unknown user)."""


class OdooAccessError(OdooError):
    """The integration user lacks a right in Odoo (AccessError): fix its groups."""


class OdooValidationError(OdooError):
    """Odoo rejected the data (UserError, ValidationError, RedirectWarning)."""


class OdooMissingError(OdooError):
    """The record does not exist or was deleted (MissingError)."""


class OdooProgrammingError(OdooError):
    """Odoo raised a Python error on our call (unknown field or method, bad arguments)."""


class OdooTransientError(OdooError):
    """Odoo could not be reached or failed on its side (network, timeout, 5xx, database conflict)."""

    retryable = True


_ERRORS_BY_NAME: dict[str, type[OdooError]] = {
    "odoo.exceptions.AccessDenied": OdooAuthError,
    "werkzeug.exceptions.Unauthorized": OdooAuthError,
    "odoo.http.SessionExpiredException": OdooAuthError,
    "odoo.exceptions.AccessError": OdooAccessError,
    "werkzeug.exceptions.Forbidden": OdooAccessError,
    "odoo.exceptions.MissingError": OdooMissingError,
    "odoo.exceptions.ValidationError": OdooValidationError,
    "odoo.exceptions.UserError": OdooValidationError,
    "odoo.exceptions.RedirectWarning": OdooValidationError,
    "odoo.exceptions.CacheMiss": OdooTransientError,
    "odoo.exceptions.ConcurrencyError": OdooTransientError,
}


def error_from_payload(data: dict, *, model: str = "", method: str = "") -> OdooError:
    """Map Odoo's serialised exception (`{name, message, ...}`) to our exception classes."""
    name = str(data.get("name") or "")
    message = str(data.get("message") or "Odoo returned an error without a message")
    if name in _ERRORS_BY_NAME:
        cls = _ERRORS_BY_NAME[name]
    elif name.startswith(("psycopg2.", "psycopg.")):
        cls = OdooTransientError
    elif name.startswith(("builtins.", "werkzeug.exceptions.")):
        cls = OdooProgrammingError
    else:
        cls = OdooError
    return cls(message, name=name, model=model, method=method)


@dataclass(frozen=True)
class OdooConfig:
    url: str
    db: str
    username: str
    api_key: str = field(repr=False)
    protocol: str = "jsonrpc"
    timeout: float = 30.0

    @property
    def login_key(self) -> tuple[str, str, str, str]:
        """What a login is valid for; the key is hashed so it never sits in a dict key in the clear."""
        digest = hashlib.sha256(self.api_key.encode()).hexdigest()
        return (self.url, self.db, self.username, digest)

    @classmethod
    def from_settings(cls) -> OdooConfig:
        return cls(
            url=settings.ODOO_URL,
            db=settings.ODOO_DB,
            username=settings.ODOO_USERNAME,
            api_key=settings.ODOO_API_KEY,
            protocol=settings.ODOO_PROTOCOL,
            timeout=settings.ODOO_TIMEOUT,
        )


class _Transport:
    def __init__(self, config: OdooConfig, session: requests.Session):
        self.config = config
        self.session = session

    def _post(self, url: str, **kwargs) -> requests.Response:
        try:
            return self.session.post(url, timeout=(min(5.0, self.config.timeout), self.config.timeout), **kwargs)
        except requests.Timeout as exc:
            raise OdooTransientError(f"Odoo did not answer within {self.config.timeout:g} s") from exc
        except requests.ConnectionError as exc:
            raise OdooTransientError(f"Cannot reach Odoo at {self.config.url}: {type(exc).__name__}") from exc

    @staticmethod
    def _server_failure(response: requests.Response) -> OdooTransientError | None:
        if response.status_code >= 500 or response.status_code in (408, 429):
            return OdooTransientError(f"Odoo answered HTTP {response.status_code}")
        return None


# uids by OdooConfig.login_key, for every client of the process; the lock makes one thread log in while
# the others wait for its answer.
_LOGINS: dict[tuple, int] = {}
_LOGIN_LOCK = threading.Lock()
_ids = itertools.count(1)


def odoo_logins_forget() -> None:
    """Drop the logins this process keeps (tests; a process that changed its credentials)."""
    with _LOGIN_LOCK:
        _LOGINS.clear()


def _shared_key(login_key: tuple) -> str:
    return "shiptrack:odoo-login:" + hashlib.sha256("|".join(login_key).encode()).hexdigest()


def _shared_uid(login_key: tuple) -> int | None:
    """The uid another worker process logged in with (the shared cache), if any."""
    from django.core.cache import cache

    try:
        return cache.get(_shared_key(login_key))
    except Exception:  # no cache, no sharing: this process logs in itself
        logger.warning("the shared cache is not answering; logging in to Odoo from this process")
        return None


def _share_uid(login_key: tuple, uid: int | None) -> None:
    from django.core.cache import cache

    try:
        if uid is None:
            cache.delete(_shared_key(login_key))
        else:
            cache.set(_shared_key(login_key), uid, 12 * 3600)
    except Exception:
        logger.warning("the shared cache is not answering")


class JsonRpcTransport(_Transport):
    """`/jsonrpc` with `common.authenticate` once per process, then `object.execute_kw` with uid and API key."""

    def _rpc(self, service: str, method: str, args: list, *, model: str = "", rpc_method: str = "") -> Any:
        body = {
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"service": service, "method": method, "args": args},
            "id": next(_ids),
        }
        response = self._post(f"{self.config.url}/jsonrpc", json=body)
        if failure := self._server_failure(response):
            raise failure
        if response.status_code != 200:
            raise OdooProgrammingError(
                f"Odoo refused the request (HTTP {response.status_code}); is {self.config.url} an Odoo server?",
                model=model,
                method=rpc_method,
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise OdooTransientError("Odoo answered with something that is not JSON") from exc
        if "error" in payload:
            data = payload["error"].get("data") or {"message": payload["error"].get("message")}
            raise error_from_payload(data, model=model, method=rpc_method)
        # A method that returns None comes back without a "result" key at all.
        return payload.get("result")

    def uid(self, *, fresh: bool = False) -> int:
        """The process's uid for these credentials, logging in only if there is none (or `fresh`)."""
        key = self.config.login_key
        with _LOGIN_LOCK:
            if not fresh and key not in _LOGINS and (shared := _shared_uid(key)):
                _LOGINS[key] = shared
            if fresh or key not in _LOGINS:
                uid = self._rpc(
                    "common", "authenticate", [self.config.db, self.config.username, self.config.api_key, {}]
                )
                if not uid:
                    _LOGINS.pop(key, None)
                    _share_uid(key, None)
                    raise OdooAuthError(
                        f"Odoo refused the login {self.config.username!r} on database {self.config.db!r}: "
                        "check ODOO_USERNAME and ODOO_API_KEY (API keys of internal users expire after 90 days).",
                        name="odoo.exceptions.AccessDenied",
                    )
                _LOGINS[key] = int(uid)
                _share_uid(key, int(uid))
            return _LOGINS[key]

    def forget_login(self, uid: int | None = None) -> None:
        """Odoo refused this uid: the next call logs in again (unless another thread already did)."""
        key = self.config.login_key
        with _LOGIN_LOCK:
            if uid is None or _LOGINS.get(key) == uid:
                _LOGINS.pop(key, None)
            if uid is None or _shared_uid(key) == uid:
                _share_uid(key, None)

    def version(self) -> dict:
        return self._rpc("common", "version", [])

    def _execute(self, uid: int, model: str, method: str, args: list, kwargs: dict) -> Any:
        return self._rpc(
            "object",
            "execute_kw",
            [self.config.db, uid, self.config.api_key, model, method, args, kwargs],
            model=model,
            rpc_method=method,
        )

    def call(self, model: str, method: str, args: list, kwargs: dict) -> Any:
        uid = self.uid()
        try:
            return self._execute(uid, model, method, args, kwargs)
        except OdooAuthError:
            # The uid this process kept is refused (the database was restored, the user replaced): log in
            # once again and retry; a key that was revoked fails the login and stops here.
            self.forget_login(uid)
        return self._execute(self.uid(), model, method, args, kwargs)


# JSON-2 passes everything by name; these are the positional parameters of the ORM methods we use.
_JSON2_POSITIONAL = {
    "search_read": ["domain", "fields", "offset", "limit", "order"],
    "search": ["domain", "offset", "limit", "order"],
    "search_count": ["domain", "limit"],
    "read": ["fields"],
    "write": ["vals"],
    "create": ["vals_list"],
    "fields_get": ["allfields", "attributes"],
    "unlink": [],
    "has_access": ["operation"],
    "has_group": ["group_ext_id"],
}
_JSON2_RECORD_METHODS = {
    "read",
    "write",
    "unlink",
    "message_post",
    "activity_schedule",
    "button_validate",
    "has_access",
    "has_group",
}


class Json2Transport(_Transport):
    """Odoo 19's `/json/2/<model>/<method>`: bearer API key, named arguments, HTTP status on errors."""

    def version(self) -> dict:
        try:
            response = self.session.get(f"{self.config.url}/web/version", timeout=self.config.timeout)
        except requests.RequestException as exc:
            raise OdooTransientError(f"Cannot reach Odoo at {self.config.url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise OdooProgrammingError(f"GET /web/version answered HTTP {response.status_code}")
        data = response.json()
        # Same keys as common.version over JSON-RPC, so callers need not know the protocol.
        return {"server_version": data.get("version"), "server_version_info": data.get("version_info")}

    def uid(self, *, fresh: bool = False) -> int:
        context = self.call("res.users", "context_get", [], {})
        return int(context.get("uid") or 0)

    def forget_login(self, uid: int | None = None) -> None:
        pass

    def call(self, model: str, method: str, args: list, kwargs: dict) -> Any:
        body: dict[str, Any] = {}
        args = list(args)
        if method in _JSON2_RECORD_METHODS and args:
            body["ids"] = args.pop(0)
        for name, value in zip(_JSON2_POSITIONAL.get(method, []), args, strict=False):
            body[name] = value
        if method == "create" and isinstance(body.get("vals_list"), dict):
            body["vals_list"] = [body["vals_list"]]
        body.update(kwargs)
        headers = {"Authorization": f"bearer {self.config.api_key}", "X-Odoo-Database": self.config.db}
        response = self._post(f"{self.config.url}/json/2/{model}/{method}", json=body, headers=headers)
        if response.status_code == 200:
            result = response.json()
            if method == "create" and isinstance(args[0] if args else None, dict) and isinstance(result, list):
                return result[0]
            return result
        if response.status_code >= 500 and "json" not in response.headers.get("Content-Type", ""):
            raise OdooTransientError(f"Odoo answered HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            data = {"message": f"HTTP {response.status_code}"}
        if response.status_code == 401:
            data.setdefault("name", "werkzeug.exceptions.Unauthorized")
        raise error_from_payload(data, model=model, method=method)


_SESSIONS = threading.local()


def _session() -> requests.Session:
    """This thread's HTTP session: its connections to Odoo stay open from one client to the next."""
    session = getattr(_SESSIONS, "session", None)
    if session is None:
        session = _SESSIONS.session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
    return session


class OdooClient:
    """The portal's one way to talk to Odoo: the process's login, the thread's connections; counts calls."""

    def __init__(self, config: OdooConfig | None = None, *, on_call: Callable[[str, str, bool], None] | None = None):
        self.config = config or OdooConfig.from_settings()
        self.session = _session()
        transport_cls = Json2Transport if self.config.protocol == "json2" else JsonRpcTransport
        self.transport = transport_cls(self.config, self.session)
        self.on_call = on_call
        self.calls = 0

    def close(self) -> None:
        """Nothing to release: the login and the connections outlive the client, for the next one."""

    def __enter__(self) -> OdooClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def version(self) -> dict:
        return self.transport.version()

    def uid(self, *, fresh: bool = False) -> int:
        """Odoo's id of the integration user; `fresh` logs in again to check the credentials now."""
        return self.transport.uid(fresh=fresh)

    def call(self, model: str, method: str, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        ok = False
        try:
            result = self.transport.call(model, method, list(args), kwargs)
            ok = True
            return result
        finally:
            self.calls += 1
            elapsed_ms = int((time.monotonic() - started) * 1000)
            logger.debug("odoo call", extra={"odoo_model": model, "odoo_method": method, "ms": elapsed_ms, "ok": ok})
            if self.on_call:
                self.on_call(model, method, ok)

    # -- ORM helpers ---------------------------------------------------------------------------
    def search_read(
        self,
        model: str,
        domain: list,
        fields: list[str],
        *,
        order: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        context: dict | None = None,
    ) -> list[dict]:
        kwargs: dict[str, Any] = {"fields": fields}
        if order:
            kwargs["order"] = order
        if limit:
            kwargs["limit"] = limit
        if offset:
            kwargs["offset"] = offset
        if context:
            kwargs["context"] = context
        return self.call(model, "search_read", domain, **kwargs)

    def read(self, model: str, ids: list[int], fields: list[str]) -> list[dict]:
        """Read records; ids that no longer exist are simply missing from the answer (Odoo 18)."""
        if not ids:
            return []
        return self.call(model, "read", sorted(set(ids)), fields=fields)

    def read_by_id(self, model: str, ids: list[int], fields: list[str]) -> dict[int, dict]:
        return {row["id"]: row for row in self.read(model, ids, fields)}

    def write(self, model: str, ids: list[int], values: dict) -> bool:
        return self.call(model, "write", ids, values)

    def has_access(self, model: str, operation: str, *, before_18: bool = False) -> bool:
        """Whether the integration user may `operation` (read, write, create, unlink) on `model`, by its
        access rights. Odoo 18 and later answer `has_access` on an empty recordset; Odoo 17 only knows
        `check_access_rights(raise_exception=False)`."""
        if before_18:
            return bool(self.call(model, "check_access_rights", operation, raise_exception=False))
        return bool(self.call(model, "has_access", [], operation))

    def has_group(self, uid: int, group_xmlid: str) -> bool:
        return bool(self.call("res.users", "has_group", [uid], group_xmlid))

    def fields_get(self, model: str, names: list[str] | None = None, attributes: list[str] | None = None) -> dict:
        kwargs: dict[str, Any] = {"attributes": attributes or ["type", "string"]}
        if names is not None:
            kwargs["allfields"] = names
        return self.call(model, "fields_get", **kwargs)

    def message_post(
        self,
        model: str,
        record_id: int,
        body: str,
        *,
        subtype_xmlid: str = "mail.mt_note",
        partner_ids: list[int] | None = None,
        html: bool = False,
    ) -> int:
        """Post in the record's chatter: an internal note (mail.mt_note), or a message to `partner_ids`
        (mail.mt_comment), which Odoo mails to them. Keyword arguments only: Odoo refuses a positional body."""
        kwargs: dict[str, Any] = {"body": body, "message_type": "comment", "subtype_xmlid": subtype_xmlid}
        if partner_ids:
            kwargs["partner_ids"] = list(partner_ids)
        if html:
            kwargs["body_is_html"] = True
        result = self.call(model, "message_post", [record_id], **kwargs)
        # JSON-RPC downgrades the new message to its id; JSON-2 answers with the list of ids.
        return result[0] if isinstance(result, list) else result

    def activity_schedule(
        self,
        model: str,
        record_id: int,
        *,
        summary: str,
        note: str,
        user_id: int,
        date_deadline: str,
        act_type_xmlid: str = "mail.mail_activity_data_todo",
    ) -> int | None:
        """Schedule an activity on a record, as any user who may write the record can (no ir.model access needed)."""
        result = self.call(
            model,
            "activity_schedule",
            [record_id],
            act_type_xmlid=act_type_xmlid,
            summary=summary,
            note=note,
            user_id=user_id,
            date_deadline=date_deadline,
        )
        return record_id_of(result)


def record_id_of(result: Any) -> int | None:
    """The id in what Odoo answers for a new record: an int, a list of ints (JSON-2), or over JSON-RPC the
    recordset's repr ("mail.activity(15,)"), which is what `activity_schedule` returns."""
    if isinstance(result, bool):
        return None
    if isinstance(result, int):
        return result
    if isinstance(result, list) and result and isinstance(result[0], int):
        return result[0]
    if isinstance(result, dict) and isinstance(result.get("id"), int):
        return result["id"]
    if isinstance(result, str) and (match := re.search(r"\((\d+)", result)):
        return int(match.group(1))
    return None
