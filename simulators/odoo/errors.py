"""Odoo's exceptions as clients see them on the wire, and the traceback text Odoo puts in `debug`.

Clients dispatch on `error.data.name`, which Odoo builds from the exception's module and class name,
so each class here claims the module of the real one (`odoo.exceptions`, `psycopg2`, ...). Builtin
errors (ValueError, TypeError, KeyError...) are raised as the real builtins.

The `debug` traceback cannot be the simulator's own stack, so it is rebuilt from Odoo 18's frames: each
layer the exception crosses prepends the frames the real server would show (see `add_frames`).
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

ODOO = "/usr/lib/python3/dist-packages/odoo"
SITE = "/usr/lib/python3/dist-packages"


class UserError(Exception):
    """odoo.exceptions.UserError; `http_status` is what Odoo 19's JSON-2 answers with."""

    __module__ = "odoo.exceptions"
    http_status = 422


class RedirectWarning(Exception):
    __module__ = "odoo.exceptions"
    http_status = 422


class AccessDenied(UserError):
    __module__ = "odoo.exceptions"
    http_status = 403

    def __init__(self, message: str = "Access Denied"):
        super().__init__(message)


class AccessError(UserError):
    __module__ = "odoo.exceptions"
    http_status = 403


class MissingError(UserError):
    __module__ = "odoo.exceptions"
    http_status = 404


class ValidationError(UserError):
    __module__ = "odoo.exceptions"


class OperationalError(Exception):
    """psycopg2.OperationalError (unknown database, server gone)."""

    __module__ = "psycopg2"


class SerializationFailure(OperationalError):
    """psycopg2.errors.SerializationFailure, what Odoo surfaces after exhausting its retries."""

    __module__ = "psycopg2.errors"


class HTTPException(Exception):
    """werkzeug.exceptions.HTTPException, raised by the JSON-2 controller and bearer authentication."""

    __module__ = "werkzeug.exceptions"
    code = 500
    title = "Internal Server Error"
    default_description = "The server encountered an internal error."

    def __init__(self, description: str | None = None, headers: dict[str, str] | None = None):
        self.description = description if description is not None else self.default_description
        self.headers = headers or {}
        super().__init__(f"{self.code} {self.title}: {self.description}")


class BadRequest(HTTPException):
    __module__ = "werkzeug.exceptions"
    code = 400
    title = "Bad Request"
    default_description = "The browser (or proxy) sent a request that this server could not understand."


class Unauthorized(HTTPException):
    __module__ = "werkzeug.exceptions"
    code = 401
    title = "Unauthorized"
    default_description = (
        "The server could not verify that you are authorized to access the URL requested. You either "
        "supplied the wrong credentials (e.g. a bad password), or your browser doesn't understand how to "
        "supply the credentials required."
    )


class NotFound(HTTPException):
    __module__ = "werkzeug.exceptions"
    code = 404
    title = "Not Found"
    default_description = (
        "The requested URL was not found on the server. If you entered the URL manually please check your "
        "spelling and try again."
    )


class MethodNotAllowed(HTTPException):
    __module__ = "werkzeug.exceptions"
    code = 405
    title = "Method Not Allowed"
    default_description = "The method is not allowed for the requested URL."


class UnprocessableEntity(HTTPException):
    __module__ = "werkzeug.exceptions"
    code = 422
    title = "Unprocessable Entity"
    default_description = "The request was well-formed but was unable to be followed due to semantic errors."


def error_name(exc: BaseException) -> str:
    """`data.name` as Odoo's serialize_exception computes it."""
    module = type(exc).__module__
    return f"{module}.{type(exc).__name__}" if module else type(exc).__name__


def exception_to_unicode(exc: BaseException) -> str:
    """Odoo's odoo.tools.exception_to_unicode: the args joined by newlines (so KeyError('x') gives 'x')."""
    if getattr(exc, "args", ()):
        return "\n".join(str(a) for a in exc.args)
    try:
        return str(exc)
    except Exception:
        return "Unknown message"


def werkzeug_html(code: int, title: str, description: str) -> str:
    """The HTML page Werkzeug 2.2 renders for an HTTP error (escaped like markupsafe)."""
    return (
        "<!doctype html>\n<html lang=en>\n"
        f"<title>{code} {title}</title>\n<h1>{title}</h1>\n<p>{html_escape(description)}</p>\n"
    )


def html_escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")
    )


# -- traceback reconstruction ------------------------------------------------------------------------

Frame = tuple[str, int, str, str]


def _f(path: str, line: int, func: str, src: str) -> Frame:
    return (f"{ODOO}/{path}", line, func, src)


FRAMES: dict[str, Frame] = {
    # HTTP layer, shared by every route
    "transactioning": _f("http.py", 2122, "_transactioning", "return service_model.retrying(func, env=self.env)"),
    "retrying": _f("service/model.py", 156, "retrying", "result = func()"),
    "serve_ir_http": _f("http.py", 2089, "_serve_ir_http", "response = self.dispatcher.dispatch(rule.endpoint, args)"),
    "json_dispatch": _f("http.py", 2337, "dispatch", "result = self.request.registry['ir.http']._dispatch(endpoint)"),
    "json_params": _f(
        "http.py",
        2334,
        "dispatch",
        "self.request.params = dict(self.jsonrequest.get('params', {}), **args)",
    ),
    "http_dispatch": _f("http.py", 2240, "dispatch", "return self.request.registry['ir.http']._dispatch(endpoint)"),
    "ir_http_dispatch": _f("addons/base/models/ir_http.py", 333, "_dispatch", "result = endpoint(**request.params)"),
    "route_wrapper": _f("http.py", 754, "route_wrapper", "result = endpoint(self, *args, **params_ok)"),
    # controllers
    "rpc_jsonrpc": _f("addons/base/controllers/rpc.py", 178, "jsonrpc", "return dispatch_rpc(service, method, args)"),
    "rpc_xmlrpc_2": _f("addons/base/controllers/rpc.py", 158, "xmlrpc_2", "response = self._xmlrpc(service)"),
    "rpc_xmlrpc_1": _f("addons/base/controllers/rpc.py", 148, "xmlrpc_1", "response = self._xmlrpc(service)"),
    "rpc_xmlrpc": _f(
        "addons/base/controllers/rpc.py",
        137,
        "_xmlrpc",
        "result = dispatch_rpc(service, method, params)",
    ),
    "rpc_xmlrpc_dumps": _f("addons/base/controllers/rpc.py", 138, "_xmlrpc", "return dumps((result,))"),
    "rpc_dumps": _f(
        "addons/base/controllers/rpc.py",
        68,
        "dumps",
        "return f'<?xml version=\"1.0\"?>\\n<methodResponse>\\n{marshaller.dumps(value)}\\n</methodResponse>\\n'",
    ),
    "rpc_xmlrpc_loads": _f("addons/base/controllers/rpc.py", 136, "_xmlrpc", "params, method = loads(data)"),
    "json2_rpc": _f("addons/rpc/controllers/json2.py", 131, "web_json_2_rpc", "result = func(records, **kwargs)"),
    "dispatch_rpc_lookup": _f("http.py", 411, "dispatch_rpc", "dispatch = rpc_dispatchers[service_name]"),
    "dispatch_rpc": _f("http.py", 412, "dispatch_rpc", "return dispatch(method, params)"),
    # common service
    "common_dispatch": _f("service/common.py", 58, "dispatch", "return g[exp_method_name](*params)"),
    "common_not_found": _f("service/common.py", 60, "dispatch", 'raise Exception("Method not found: %s" % method)'),
    "common_authenticate_registry": _f(
        "service/common.py",
        26,
        "exp_authenticate",
        "res_users = Registry(db)['res.users']",
    ),
    "registry_new": _f("modules/registry.py", 108, "__new__", "return cls.new(db_name)"),
    "registry_init": _f("modules/registry.py", 116, "new", "registry.init(db_name)"),
    "registry_cursor": _f("modules/registry.py", 162, "init", "with closing(self.cursor()) as cr:"),
    "sql_db_connect": _f("sql_db.py", 619, "borrow", "result = psycopg2.connect("),
    # object service
    "model_check": _f("service/model.py", 49, "dispatch", "security.check(db, uid, passwd)"),
    "security_check": _f("service/security.py", 11, "check", "return res_users.check(db, uid, passwd)"),
    "decorator": (f"{SITE}/decorator.py", 232, "fun", "return caller(func, *(extras + args), **kw)"),
    "cache_lookup": _f("tools/cache.py", 110, "lookup", "value = d[key] = self.method(*args, **kwargs)"),
    "users_check": _f(
        "addons/base/models/res_users.py",
        995,
        "check",
        "self._check_credentials(credential, {'interactive': False})",
    ),
    "users_check_credentials": _f(
        "addons/base/models/res_users.py",
        2320,
        "_check_credentials",
        "raise AccessDenied()",
    ),
    "model_execute_kw": _f("service/model.py", 58, "dispatch", "res = execute_kw(db, uid, *params[3:])"),
    "model_execute": _f("service/model.py", 56, "dispatch", "res = execute(db, uid, *params[3:])"),
    "model_not_available": _f(
        "service/model.py",
        60,
        "dispatch",
        'raise NameError("Method not available %s" % method)',
    ),
    "execute_kw": _f("service/model.py", 81, "execute_kw", "return execute(db, uid, obj, method, *args, **kw or {})"),
    "execute": _f("service/model.py", 87, "execute", "res = execute_cr(cr, uid, obj, method, *args, **kw)"),
    "execute_cr_no_model": _f(
        "service/model.py",
        70,
        "execute_cr",
        'raise UserError(env._("Object %s doesn\'t exist", obj))',
    ),
    "execute_cr_method": _f(
        "service/model.py",
        71,
        "execute_cr",
        "get_public_method(recs, method)  # Don't use the result, call_kw will redo the getattr",
    ),
    "get_public_method_missing": _f(
        "service/model.py",
        38,
        "get_public_method",
        "raise AttributeError(f\"The method '{model._name}.{name}' does not exist\")  # noqa: TRY004",
    ),
    "get_public_method_private": _f(
        "service/model.py",
        44,
        "get_public_method",
        "raise AccessError(f\"Private methods (such as '{model._name}.{name}') cannot be called remotely.\")",
    ),
    "execute_cr_call": _f(
        "service/model.py",
        72,
        "execute_cr",
        "result = retrying(partial(odoo.api.call_kw, recs, method, args, kw), env)",
    ),
    "retrying_validation": _f("service/model.py", 175, "retrying", "raise _as_validation_error(env, exc) from exc"),
    "retrying_serialization": _f("service/model.py", 168, "retrying", "raise"),
    "call_kw": _f("api.py", 533, "call_kw", "result = getattr(recs, name)(*args, **kwargs)"),
    "call_kw_multi": _f("api.py", 517, "_call_kw_multi", "ids, args = args[0], args[1:]"),
    # ORM
    "search_read": _f(
        "models.py",
        6121,
        "search_read",
        "records = self.search_fetch(domain or [], fields, offset=offset, limit=limit, order=order)",
    ),
    "search_fetch_search": _f(
        "models.py",
        1773,
        "search_fetch",
        "query = self._search(domain, offset=offset, limit=limit, order=order or self._order)",
    ),
    "search_fetch_fields": _f(
        "models.py",
        1779,
        "search_fetch",
        "fields_to_fetch = self._determine_fields_to_fetch(field_names)",
    ),
    "determine_fields": _f(
        "models.py",
        4171,
        "_determine_fields_to_fetch",
        'raise ValueError(f"Invalid field {field_name!r} on model {self._name!r}")',
    ),
    "search": _f(
        "models.py",
        1717,
        "search",
        "return self.search_fetch(domain, [], offset=offset, limit=limit, order=order)",
    ),
    "search_count": _f("models.py", 1683, "search_count", "query = self._search(domain, limit=limit)"),
    "_search_access": _f("models.py", 5790, "_search", "self.browse().check_access('read')"),
    "_search_domain": _f("models.py", 5800, "_search", "query = self._where_calc(domain)"),
    "_search_order": _f("models.py", 5823, "_search", "query.order = self._order_to_sql(order, query)"),
    "where_calc": _f("models.py", 5554, "_where_calc", "return expression.expression(domain, self).query"),
    "expression_init": _f(
        "osv/expression.py",
        781,
        "__init__",
        "self.expression = domain_combine_anies(domain, model)",
    ),
    "combine_anies": _f("osv/expression.py", 599, "domain_combine_anies", "domain_any = _anyfy_leaves(domain, model)"),
    "anyfy_leaves": _f(
        "osv/expression.py",
        374,
        "_anyfy_leaves",
        'raise ValueError(f"Invalid field {model._name}.{path[0]} in leaf {item}")',
    ),
    "order_to_sql": _f(
        "models.py",
        5609,
        "_order_to_sql",
        "term = self._order_field_to_sql(alias, field_name, sql_direction, sql_nulls, query)",
    ),
    "order_field_to_sql": _f(
        "models.py",
        5628,
        "_order_field_to_sql",
        'raise ValueError(f"Invalid field {fname!r} on model {self._name!r}")',
    ),
    "check_access": _f("models.py", 4422, "check_access", "raise result[1]()"),
    "read": _f("models.py", 3759, "read", "fields = self.check_field_access_rights('read', fields)"),
    "read_access": _f("models.py", 3760, "read", "self.check_access('read')"),
    "write_access": _f("models.py", 4701, "write", "self.check_access('write')"),
    "write_field": _f(
        "models.py",
        4725,
        "write",
        'raise ValueError("Invalid field %r on model %r" % (fname, self._name))',
    ),
    "create": _f("models.py", 4982, "create", "records = self._create(data_list)"),
    "create_field": _f(
        "models.py",
        4925,
        "create",
        'raise ValueError("Invalid field %r on model %r" % (fname, self._name))',
    ),
    "create_access": _f("models.py", 4906, "create", "self.check_access('create')"),
    "unlink_access": _f("models.py", 3900, "unlink", "self.check_access('unlink')"),
    "picking_write": _f(
        "addons/stock/models/stock_picking.py",
        1130,
        "write",
        "res = super(Picking, self).write(vals)",
    ),
    "mail_thread_write": _f("addons/mail/models/mail_thread.py", 338, "write", "self._track_prepare(self._fields)"),
    "track_prepare": _f(
        "addons/mail/models/mail_thread.py",
        505,
        "_track_prepare",
        "values.setdefault(fname, record[fname])",
    ),
    "getitem": _f("models.py", 7061, "__getitem__", "return self._fields[key].__get__(self)"),
    "field_get_missing": _f("fields.py", 1272, "__get__", 'raise MissingError("\\n".join(['),
    "mail_thread_write_super": _f(
        "addons/mail/models/mail_thread.py",
        345,
        "write",
        "result = super(MailThread, self).write(values)",
    ),
    "activity_mixin_write": _f(
        "addons/mail/models/mail_activity_mixin.py",
        242,
        "write",
        "return super(MailActivityMixin, self).write(vals)",
    ),
    "sms_message_post": _f(
        "addons/sms/models/mail_thread.py",
        52,
        "message_post",
        "return super().message_post(*args, body=body, message_type=message_type, **kwargs)",
    ),
    "message_post": _f(
        "addons/mail/models/mail_thread.py",
        2160,
        "message_post",
        "self.ensure_one()  # should always be posted on a record, use message_notify if no record",
    ),
    "ensure_one": _f("models.py", 5952, "ensure_one", 'raise ValueError("Expected singleton: %s" % self)'),
    "button_validate_sms": _f(
        "addons/stock_sms/models/stock_picking.py",
        27,
        "button_validate",
        "return super().button_validate()",
    ),
    "button_validate": _f("addons/stock/models/stock_picking.py", 1361, "button_validate", "self._sanity_check()"),
    "env_ref": _f("api.py", 738, "ref", "res_model, res_id = self['ir.model.data']._xmlid_to_res_model_res_id("),
    "activity_schedule": _f(
        "addons/mail/models/mail_activity_mixin.py",
        366,
        "activity_schedule",
        "activity_type = self.env.ref(act_type_xmlid, raise_if_not_found=False)",
    ),
    "ir_model_fields_create": _f(
        "addons/base/models/ir_model.py",
        1247,
        "create",
        "models = set(IrModel.browse(vals['model_id']).mapped('model') for vals in vals_list if 'model_id' in vals)",
    ),
}


def add_frames(exc: BaseException, *names: str) -> BaseException:
    """Prepend frames (outermost first) to the traceback Odoo would show for `exc`."""
    frames = [FRAMES[name] for name in names]
    existing = getattr(exc, "odoo_frames", None) or []
    with suppress(AttributeError):  # exceptions with __slots__ keep their plain traceback
        exc.odoo_frames = frames + existing  # type: ignore[attr-defined]
    return exc


def odoo_error(exc: BaseException, *names: str) -> BaseException:
    """Tag a freshly created exception with the innermost frames of the place Odoo raises it."""
    return add_frames(exc, *names)


@contextmanager
def frames(*names: str) -> Iterator[None]:
    """Frames of the Odoo layer the code inside the block stands for, added to any exception crossing it."""
    try:
        yield
    except Exception as exc:
        add_frames(exc, *names)
        raise


_TARGETS = re.compile(r"^[\w.\[\]'\", ]+$")


def _carets(src: str) -> str:
    # Python 3.11 underlines the failing expression unless it spans the whole line.
    if src.startswith("return "):
        return " " * 7 + "^" * (len(src) - 7)
    call = src.find("(")
    head = src if call < 0 else src[:call]
    cut = head.rfind(" = ")
    if cut > 0 and _TARGETS.match(head[:cut].replace(" = ", ", ")):
        start = cut + 3
        return " " * start + "^" * (len(src) - start)
    return ""


def render_traceback(exc: BaseException, frames: Iterable[Frame] | None = None) -> str:
    """The `debug` text: a Python 3.11 traceback through Odoo's frames, ending with the exception line."""
    frames = list(frames if frames is not None else getattr(exc, "odoo_frames", []) or [])
    parts = ["Traceback (most recent call last):\n"]
    for path, lineno, func, src in frames:
        parts.append(f'  File "{path}", line {lineno}, in {func}\n    {src}\n')
        carets = _carets(src)
        if carets:
            parts.append(f"    {carets}\n")
    parts.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(parts)


HTTP_JSONRPC = ("transactioning", "retrying", "serve_ir_http", "json_dispatch", "ir_http_dispatch", "route_wrapper")
HTTP_XMLRPC = ("transactioning", "retrying", "serve_ir_http", "http_dispatch", "ir_http_dispatch", "route_wrapper")
