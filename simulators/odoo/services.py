"""Odoo's RPC services (`common`, `db`, `object`) and `api.call_kw`, shared by every transport.

The service functions keep Odoo's names and signatures (`exp_authenticate(db, login, password,
user_agent_env)`, `execute_kw(db, uid, obj, method, args, kw=None)`, ...) and are called with the
client's params as-is, so a wrong number of arguments fails with Odoo's own TypeError text. The
simulator serving the call is found through a context variable rather than an extra argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .errors import OperationalError, SerializationFailure, UserError
from .orm import BaseModel, method_attr, public_method

if TYPE_CHECKING:
    from .server import OdooSimulator

current_simulator: ContextVar[OdooSimulator] = ContextVar("current_simulator")


def _sim() -> OdooSimulator:
    return current_simulator.get()


def check_db(db: Any) -> None:
    sim = _sim()
    if db != sim.db_name:
        raise OperationalError(
            'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
            f'FATAL:  database "{db}" does not exist\n'
        )


# -- common -----------------------------------------------------------------------------------------
def exp_login(db, login, password):
    return exp_authenticate(db, login, password, None)


def exp_authenticate(db, login, password, user_agent_env):
    check_db(db)
    uid = _sim().authenticate_login(login, password)
    return uid or False


def exp_version():
    return _sim().version_info()


_COMMON = {f.__name__: f for f in (exp_login, exp_authenticate, exp_version)}


def common_dispatch(method, params):
    name = "exp_" + method
    if name not in _COMMON:
        raise Exception(f"Method not found: {method}")
    _sim()._log_rpc("common", None, method)
    return _COMMON[name](*params)


# -- db -----------------------------------------------------------------------------------------------
def exp_list(document=False):
    return [_sim().db_name]


_DB = {f.__name__: f for f in (exp_list,)}


def db_dispatch(method, params):
    return _DB["exp_" + method](*params)


# -- object -------------------------------------------------------------------------------------------
def object_dispatch(method, params):
    db, uid, passwd = params[0], int(params[1]), params[2]
    security_check(db, uid, passwd)
    if method == "execute_kw":
        return execute_kw(db, uid, *params[3:])
    raise NameError(f"Method not available {method}")


def security_check(db, uid, passwd):
    check_db(db)
    _sim().check_credentials(uid, passwd)


def execute_kw(db, uid, obj, method, args, kw=None):
    return execute(db, uid, obj, method, *args, **kw or {})


def execute(db, uid, obj, method, *args, **kw):
    return execute_cr(uid, obj, method, list(args), kw)


def execute_cr(uid: int, obj: Any, method: Any, args: list, kw: dict) -> Any:
    sim = _sim()
    sim._log_rpc("object", obj, method, uid=uid)
    with sim.transaction(uid=uid) as env:
        model = env.get(obj)
        if model is None:
            raise UserError(f"Object {obj} doesn't exist")
        public_method(model, method)
        if sim.take_serialization_failure():
            raise SerializationFailure("could not serialize access due to concurrent update\n")
        result = call_kw(model, method, args, kw)
    return result


def call_kw(model: BaseModel, name: str, args: list, kwargs: Mapping[str, Any]) -> Any:
    """odoo.api.call_kw: model methods get all args; record methods take their ids from args[0]."""
    method = getattr(type(model), name)
    api = method_attr(type(model), name, "_api")
    kwargs = dict(kwargs)
    context = kwargs.pop("context", None)
    if api in ("model", "model_create"):
        recs = model.with_context(context or {})
        result = method(recs, *args, **kwargs)
        if api == "model_create":
            return result.id if isinstance(args[0], Mapping) else result.ids
    else:
        ids, args = args[0], args[1:]
        recs = model.with_context(context or {})._browse(ids)
        result = method(recs, *args, **kwargs)
    return downgrade(method_attr(type(model), name, "_returns"), result)


def downgrade(kind: str | None, result: Any) -> Any:
    if isinstance(result, BaseModel):
        if kind == "ids":
            return result.ids
        if kind == "id":
            return result.id
    return result


def dispatch_rpc(service_name, method, params):
    dispatchers = {"common": common_dispatch, "db": db_dispatch, "object": object_dispatch}
    dispatch = dispatchers[service_name]
    return dispatch(method, params)


class RPC:
    """The /jsonrpc controller; its signature decides the TypeError for missing params."""

    def jsonrpc(self, service, method, args):
        return dispatch_rpc(service, method, args)


def filter_kwargs(params: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """route_wrapper drops the params the endpoint does not accept (Odoo only logs them)."""
    return {key: value for key, value in params.items() if key in names}
