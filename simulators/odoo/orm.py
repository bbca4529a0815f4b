"""A small Odoo ORM: field definitions, recordsets, and the public model methods clients call over RPC.

Model classes mirror Odoo's (BaseModel, MailThread, ...) and their public methods keep Odoo's Python
signatures, so calling them with the client's args/kwargs fails with the same TypeError text Odoo
gives. Values are kept "native" (datetime objects, many2one as ids) and converted on the way out the
way Odoo does: `read` gives many2one as `[id, display_name]` and datetimes as objects that the JSON
layer renders as "YYYY-MM-DD HH:MM:SS" (truncating the microseconds stored in write_date).
"""

from __future__ import annotations

import copy
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from . import automation
from .domain import DomainCompiler
from .errors import AccessError, MissingError, ValidationError

if TYPE_CHECKING:
    from .server import OdooSimulator
    from .store import Transaction

_logger = logging.getLogger("simulators.odoo.models")

SUPERUSER_ID = 1
MODELS: dict[str, type[BaseModel]] = {}

# Group xml ids -> the full names Odoo prints in access errors, and what each group implies.
GROUP_NAMES = {
    "base.group_user": "Role / User",
    "base.group_portal": "User types / Portal",
    "base.group_partner_manager": "Extra Rights/Contact Creation",
    "base.group_erp_manager": "Administration/Access Rights",
    "base.group_system": "Administration/Settings",
    "stock.group_stock_user": "Inventory/User",
    "stock.group_stock_manager": "Inventory/Administrator",
    "sales_team.group_sale_salesman": "Sales/User: Own Documents Only",
    "sales_team.group_sale_salesman_all_leads": "Sales/User: All Documents",
    "sales_team.group_sale_manager": "Sales/Administrator",
}
IMPLIED_GROUPS = {
    "base.group_system": {"base.group_erp_manager"},
    "base.group_erp_manager": {"base.group_user"},
    "stock.group_stock_manager": {"stock.group_stock_user"},
    "stock.group_stock_user": {"base.group_user"},
    "sales_team.group_sale_manager": {"sales_team.group_sale_salesman_all_leads"},
    "sales_team.group_sale_salesman_all_leads": {"sales_team.group_sale_salesman"},
    "sales_team.group_sale_salesman": {"base.group_user", "base.group_partner_manager"},
}
INTERNAL = ("base.group_user",)
EVERYONE = None

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
X2MANY = ("one2many", "many2many")


def implied_closure(groups: set[str]) -> set[str]:
    result = set(groups)
    frontier = list(groups)
    while frontier:
        for implied in IMPLIED_GROUPS.get(frontier.pop(), ()):
            if implied not in result:
                result.add(implied)
                frontier.append(implied)
    return result


# -- api decorators ----------------------------------------------------------------------------------
def api_model(func: Callable) -> Callable:
    """@api.model: called on the model, the RPC args are not split into ids + args."""
    func._api = "model"  # type: ignore[attr-defined]
    return func


def api_model_create_multi(func: Callable) -> Callable:
    """@api.model_create_multi: a dict or a list of dicts; RPC answers an id or a list of ids."""
    func._api = "model_create"  # type: ignore[attr-defined]
    return func


def api_returns(kind: str) -> Callable[[Callable], Callable]:
    """@api.returns: how JSON-RPC/XML-RPC downgrade the returned recordset ("ids" or "id")."""

    def decorate(func: Callable) -> Callable:
        func._returns = kind  # type: ignore[attr-defined]
        return func

    return decorate


# -- fields ------------------------------------------------------------------------------------------
@dataclass
class Field:
    name: str
    type: str
    string: str
    relation: str | None = None
    relation_field: str | None = None
    readonly: bool = False
    required: bool = False
    store: bool = True
    searchable: bool | None = None
    manual: bool = False
    selection: list | None = None
    related: str | None = None
    compute: Callable[[BaseModel], Any] | None = None
    default: Any = None
    help: str | None = None
    size: int | None = None
    translate: bool = False
    field_id: int | None = None

    def __post_init__(self) -> None:
        if self.searchable is None:
            self.searchable = self.store or bool(self.related)
        if self.related is not None and not self.store:
            self.readonly = True

    @property
    def sortable(self) -> bool:
        return self.store and self.type not in X2MANY

    def describe(self) -> dict[str, Any]:
        desc: dict[str, Any] = {
            "change_default": False,
            "company_dependent": False,
            "groupable": self.sortable and self.type not in ("text", "html", "binary"),
            "manual": self.manual,
            "name": self.name,
            "readonly": self.readonly,
            "required": self.required,
            "searchable": bool(self.searchable),
            "sortable": self.sortable,
            "store": self.store,
            "string": self.string,
            "type": self.type,
        }
        if self.help:
            desc["help"] = self.help
        if self.relation:
            desc["relation"] = self.relation
            desc["context"] = {}
            desc["domain"] = []
        if self.relation_field:
            desc["relation_field"] = self.relation_field
        if self.selection is not None:
            desc["selection"] = [list(item) for item in self.selection]
        if self.size:
            desc["size"] = self.size
        if self.type in ("char", "text", "html"):
            desc["translate"] = self.translate
        return desc


def F(name: str, ftype: str, string: str, relation: str | None = None, **kwargs: Any) -> Field:
    return Field(name=name, type=ftype, string=string, relation=relation, **kwargs)


MAGIC_FIELDS = (
    F("id", "integer", "ID", readonly=True),
    F("display_name", "char", "Display Name", store=False, readonly=True, searchable=True),
    F("create_uid", "many2one", "Created by", "res.users", readonly=True),
    F("create_date", "datetime", "Created on", readonly=True),
    F("write_uid", "many2one", "Last Updated by", "res.users", readonly=True),
    F("write_date", "datetime", "Last Updated on", readonly=True),
)


def empty_value(fld: Field) -> Any:
    if fld.type in X2MANY:
        return ()
    if fld.type == "boolean":
        return False
    return None


def to_datetime(value: Any) -> datetime | None:
    """fields.Datetime.to_datetime: accepts "YYYY-MM-DD" and "YYYY-MM-DD HH:MM:SS" strings only."""
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.strptime(value, DATETIME_FORMAT[: len(value) - 2])


def to_date(value: Any) -> date | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return datetime.strptime(value[:10], DATE_FORMAT).date()


def json_default(obj: Any) -> Any:
    """odoo.tools.json_default: datetimes to second precision, recordsets to their repr."""
    if isinstance(obj, datetime):
        return obj.strftime(DATETIME_FORMAT)
    if isinstance(obj, date):
        return obj.strftime(DATE_FORMAT)
    if isinstance(obj, (bytes, bytearray)):
        return obj.decode()
    if isinstance(obj, (set, frozenset)):
        return list(obj)
    return str(obj)


# -- registry and environment ------------------------------------------------------------------------
class Registry:
    """The models and fields of one database (custom fields make it per-simulator)."""

    def __init__(self) -> None:
        self.models: dict[str, type[BaseModel]] = dict(MODELS)
        self.fields: dict[str, dict[str, Field]] = {name: cls._build_fields() for name, cls in self.models.items()}

    def add_field(self, model: str, fld: Field) -> None:
        fields = dict(self.fields[model])
        fields[fld.name] = fld
        self.fields[model] = fields

    def remove_field(self, model: str, name: str) -> None:
        self.fields[model] = {key: fld for key, fld in self.fields.get(model, {}).items() if key != name}


class Environment:
    """Who (uid), in which transaction, with which context; `env[model]` gives an empty recordset."""

    def __init__(
        self,
        sim: OdooSimulator,
        txn: Transaction,
        uid: int,
        context: Mapping[str, Any] | None = None,
        su: bool = False,
    ):
        self.sim = sim
        self.txn = txn
        self.uid = uid
        self.context = dict(context or {})
        self.su = su or uid == SUPERUSER_ID

    @property
    def registry(self) -> Registry:
        return self.sim.registry

    @property
    def now(self) -> datetime:
        return self.txn.now

    def __getitem__(self, model: str) -> BaseModel:
        return self.registry.models[model](self, ())

    def __contains__(self, model: str) -> bool:
        return model in self.registry.models

    def get(self, model: str) -> BaseModel | None:
        cls = self.registry.models.get(model)
        return cls(self, ()) if cls is not None else None

    def __call__(
        self, *, uid: int | None = None, context: Mapping | None = None, su: bool | None = None
    ) -> Environment:
        return Environment(
            self.sim,
            self.txn,
            self.uid if uid is None else uid,
            self.context if context is None else context,
            self.su if su is None else su,
        )

    @property
    def user_groups(self) -> set[str]:
        return self.sim.user_groups(self.uid)

    def ref(self, xmlid: str, raise_if_not_found: bool = True) -> BaseModel | None:
        module, _, name = xmlid.partition(".")
        data = self["ir.model.data"].sudo()
        for rid in data._all_ids():
            row = data._row(rid)
            if row and row.get("module") == module and row.get("name") == name:
                return self[row["model"]]._browse([row["res_id"]])
        if raise_if_not_found:
            raise ValueError(f"External ID not found in the system: {xmlid}")
        return None


_ORDER_RE = re.compile(
    r"^(\s*([a-z0-9:_]+|\"[a-z0-9:_]+\")(\.id)?(\s+(desc|asc))?(\s+(nulls\s+(first|last)))?\s*(,|$))+(?<!,)$",
    re.IGNORECASE,
)


class BaseModel:
    """Odoo's BaseModel: a recordset of one model in one environment."""

    _name: ClassVar[str | None] = None
    _description: ClassVar[str] = ""
    _order: ClassVar[str] = "id"
    _rec_name: ClassVar[str | None] = "name"
    _parent_name: ClassVar[str | None] = None
    _log_access: ClassVar[bool] = True
    _mail_thread: ClassVar[bool] = False
    _specs: ClassVar[tuple[Field, ...]] = ()
    # operation -> groups allowed; operations not listed are open to internal users, None to everyone
    _acl: ClassVar[dict[str, tuple[str, ...] | None]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("_name"):
            MODELS[cls._name] = cls  # type: ignore[index]

    @classmethod
    def _build_fields(cls) -> dict[str, Field]:
        fields: dict[str, Field] = {}
        for klass in reversed(cls.__mro__):
            for spec in klass.__dict__.get("_specs", ()):
                fields[spec.name] = copy.copy(spec)
        for spec in MAGIC_FIELDS:
            if spec.name not in fields and (cls._log_access or spec.name in ("id", "display_name")):
                fields[spec.name] = copy.copy(spec)
        return fields

    def __init__(self, env: Environment, ids: Any = ()):
        self.env = env
        self._ids = tuple(ids)

    # -- recordset protocol ---------------------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return list(self._ids)

    @property
    def id(self) -> int | bool:
        return self._ids[0] if self._ids else False

    def __iter__(self) -> Iterator[BaseModel]:
        return (self._browse([rid]) for rid in self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __bool__(self) -> bool:
        return bool(self._ids)

    def __repr__(self) -> str:
        return f"{self._name}{self._ids!r}"

    __str__ = __repr__

    @property
    def _fields(self) -> dict[str, Field]:
        return self.env.registry.fields[self._name]  # type: ignore[index]

    def _browse(self, ids: Any) -> BaseModel:
        if ids is None or ids is False:
            ids = ()
        elif isinstance(ids, int):
            ids = (ids,)
        return type(self)(self.env, ids)

    def sudo(self, flag: bool = True) -> BaseModel:
        return type(self)(self.env(su=flag), self._ids)

    def with_context(self, *args: Any, **kwargs: Any) -> BaseModel:
        context = dict(args[0] if args else self.env.context, **kwargs)
        return type(self)(self.env(context=context), self._ids)

    def ensure_one(self) -> BaseModel:
        if len(self._ids) != 1:
            raise ValueError(f"Expected singleton: {self}")
        return self

    # -- row access -----------------------------------------------------------------------------------
    def _row(self, rid: int) -> dict[str, Any] | None:
        return self.env.txn.row(self._name, rid)  # type: ignore[arg-type]

    def _all_ids(self) -> list[int]:
        return self.env.txn.ids(self._name)  # type: ignore[arg-type]

    def _exists(self, rid: Any) -> bool:
        return isinstance(rid, int) and self._row(rid) is not None

    def _get(self, rid: int, fname: str) -> Any:
        """The native value of a field on one record (computed, related and one2many included)."""
        if fname == "id":
            return rid
        fld = self._fields[fname]
        if fname == "display_name":
            return self._display_name(rid)
        if fld.related:
            return self._get_related(rid, fld)
        if fld.compute is not None:
            return fld.compute(self._browse([rid]))
        if fld.type == "one2many":
            return self._one2many_ids(rid, fld)
        if not fld.store:
            return empty_value(fld)
        row = self._row(rid)
        if row is None:
            return empty_value(fld)
        return row.get(fname, empty_value(fld))

    def _get_related(self, rid: int, fld: Field) -> Any:
        model: BaseModel = self
        value: Any = rid
        for part in fld.related.split("."):  # type: ignore[union-attr]
            if not value:
                return empty_value(fld)
            if isinstance(value, (list, tuple)):
                value = value[0] if value else None
                if value is None:
                    return empty_value(fld)
            value = model._get(value, part)
            part_field = model._fields[part]
            if part_field.relation:
                if part_field.relation not in self.env:
                    return empty_value(fld)
                model = self.env[part_field.relation]
        return value

    def _one2many_ids(self, rid: int, fld: Field) -> tuple[int, ...]:
        if fld.relation not in self.env:
            return ()  # a model of a module the simulator does not carry (stock.move, mail.followers...)
        comodel = self.env[fld.relation]  # type: ignore[index]
        inverse = fld.relation_field
        if not inverse or inverse not in comodel._fields:
            return ()
        by_model = inverse == "res_id" and "model" in comodel._fields
        by_res_model = inverse == "res_id" and "res_model" in comodel._fields
        result = []
        for cid in comodel._all_ids():
            row = comodel._row(cid)
            if not row or row.get(inverse) != rid:
                continue
            if by_model and row.get("model") != self._name:
                continue
            if by_res_model and row.get("res_model") != self._name:
                continue
            result.append(cid)
        return tuple(result)

    def _display_name(self, rid: int) -> str | bool:
        row = self._row(rid)
        if row is None:
            return False
        return self._compute_display_name(rid, row)

    def _compute_display_name(self, rid: int, row: dict[str, Any]) -> str:
        if self._rec_name and self._rec_name in self._fields:
            value = self._get(rid, self._rec_name)
            if value:
                return str(value)
        return f"{self._name},{rid}"

    # -- access rights --------------------------------------------------------------------------------
    def _check_access(self, operation: str) -> None:
        if self.env.su:
            return
        groups = self._acl.get(operation, INTERNAL)
        if groups is EVERYONE:
            return
        if self.env.user_groups & set(groups):
            return
        raise AccessError(access_error_message(self, operation, groups))

    def _check_missing(self) -> None:
        for rid in self._ids:
            if not self._exists(rid):
                raise MissingError(
                    "Record does not exist or has been deleted.\n"
                    f"(Record: {self._name}({rid!r},), User: {self.env.uid})"
                )

    # -- values in and out ----------------------------------------------------------------------------
    def _convert_to_read(self, fld: Field, value: Any, load: Any) -> Any:
        ftype = fld.type
        if ftype == "many2one":
            if not value:
                return False
            if load == "_classic_read":
                comodel = self.env.get(fld.relation)  # type: ignore[arg-type]
                name = comodel._display_name(value) if comodel is not None else f"{fld.relation},{value}"
                return [value, name]
            return value
        if ftype in X2MANY:
            return list(value or ())
        if ftype == "boolean":
            return bool(value)
        if ftype in ("integer", "many2one_reference"):
            return value or 0
        if ftype in ("float", "monetary"):
            return float(value or 0.0)
        if ftype == "properties":
            return value or []
        if value is None:
            return False
        return value

    def _convert_to_write(self, fld: Field, value: Any) -> Any:
        ftype = fld.type
        if ftype in ("char", "text", "html"):
            if value is None or value is False:
                return None
            text = value if isinstance(value, str) else str(value)
            return text[: fld.size] if fld.size else text
        if ftype == "selection":
            if value is None or value is False:
                return None
            allowed = {key for key, _label in (fld.selection or ())}
            if allowed and value not in allowed:
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
            return value
        if ftype == "boolean":
            return bool(value)
        if ftype in ("integer", "many2one_reference"):
            return int(value or 0)
        if ftype in ("float", "monetary"):
            return float(value or 0.0)
        if ftype == "datetime":
            return to_datetime(value)
        if ftype == "date":
            return to_date(value)
        if ftype == "many2one":
            if value is None or value is False:
                return None
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"Wrong value for {self._name}.{fld.name}: {value!r}")
            if not self.env[fld.relation].sudo()._exists(value):  # type: ignore[index]
                table = self._name.replace(".", "_")  # type: ignore[union-attr]
                raise ValidationError(
                    "The operation cannot be completed: another model requires the record being deleted. "
                    "If possible, archive it instead.\n\n"
                    f"Model: {self._description} ({self._name})\nConstraint: {table}_{fld.name}_fkey"
                )
            return value
        return value

    # Of the x2many commands, clients send only (6, 0, ids) to a many2many and (0, 0, values) to a
    # one2many; others fail loudly rather than do something Odoo would not.
    def _apply_m2m(self, fld: Field, commands: Any) -> tuple[int, ...]:
        ids: list[int] = []
        for command in commands or ():
            if command[0] != 6:
                raise ValueError(f"{self._name}.{fld.name}: command {command!r} is not simulated")
            ids = list(command[2])
        return tuple(ids)

    def _apply_o2m(self, rid: int, fld: Field, commands: Any) -> None:
        for command in commands or ():
            if command[0] != 0:
                raise ValueError(f"{self._name}.{fld.name}: command {command!r} is not simulated")
            self.env[fld.relation].create({**command[2], fld.relation_field: rid})  # type: ignore[index]

    def _validate_field_names(self, fields: Any) -> list[str]:
        if not fields:
            return [name for name in self._fields if name != "id"]
        names: list[str] = []
        for name in fields:
            if name not in self._fields:
                raise ValueError(f"Invalid field {name!r} on model {self._name!r}")
            if name not in names:
                names.append(name)
        return names

    # -- search ---------------------------------------------------------------------------------------
    def _search(self, domain: Any, offset: int = 0, limit: int | None = None, order: Any = None) -> list[int]:
        self._check_access("read")
        domain = list(domain or [])
        if (
            "active" in self._fields
            and self.env.context.get("active_test", True)
            and not any(isinstance(t, (list, tuple)) and str(t[0]).split(".")[0] == "active" for t in domain)
        ):
            domain = [("active", "=", True), *domain] if domain else [("active", "=", True)]
        predicate = DomainCompiler(self).compile(domain)
        terms = []
        if order is not False:
            terms = self._parse_order(order or self._order)
        ids = [rid for rid in self._all_ids() if predicate(rid)]
        for fname, desc, nulls in reversed(terms):
            ids.sort(key=self._sort_key(fname, desc, nulls), reverse=desc)
        if offset:
            ids = ids[offset:]
        if limit:
            ids = ids[:limit]
        return ids

    def _parse_order(self, spec: str) -> list[tuple[str, bool, str | None]]:
        if not isinstance(spec, str) or not _ORDER_RE.match(spec):
            raise ValueError(
                f'Invalid "order" specified ({spec}). A valid "order" specification is a comma-separated '
                "list of valid field names (optionally followed by asc/desc for the direction)"
            )
        terms = []
        for item in spec.split(","):
            words = item.split()
            fname = words[0].strip('"')
            if fname.endswith(".id"):
                fname = fname[:-3]
            desc = len(words) > 1 and words[1].lower() == "desc"
            nulls = words[-1].lower() if len(words) > 2 and words[-2].lower() == "nulls" else None
            fld = self._fields.get(fname)
            if fld is None:
                raise ValueError(f"Invalid field {fname!r} on model {self._name!r}")
            if not fld.sortable and fname != "id":
                _logger.warning("Model %r cannot be sorted on field %r (not a column)", self._name, fname)
                continue
            terms.append((fname, desc, nulls))
        return terms

    def _sort_key(self, fname: str, desc: bool, nulls: str | None) -> Callable[[int], tuple]:
        fld = self._fields[fname]
        nulls_first = (nulls == "first") if nulls else desc
        # sort(reverse=desc) flips the null flag too; pick the flag so nulls land where PostgreSQL puts them
        null_rank_if_null = (0 if nulls_first else 1) if not desc else (1 if nulls_first else 0)

        def key(rid: int) -> tuple:
            value = self._get(rid, fname)
            if fld.type == "many2one" and value:
                value = self.env[fld.relation]._display_name(value)  # type: ignore[index]
            if value is None or (value is False and fld.type != "boolean"):
                return (null_rank_if_null, 0)
            return (1 - null_rank_if_null, value)

        return key

    # -- public ORM API (callable over RPC) -----------------------------------------------------------
    @api_model
    @api_returns("ids")
    def search(self, domain, offset=0, limit=None, order=None):
        return self._browse(self._search(domain, offset=offset, limit=limit, order=order))

    @api_model
    def search_count(self, domain, limit=None):
        return len(self._search(domain, limit=limit, order=False))

    @api_model
    def search_read(self, domain=None, fields=None, offset=0, limit=None, order=None, **read_kwargs):
        ids = self._search(domain or [], offset=offset, limit=limit, order=order)
        names = self._validate_field_names(fields)
        return self._browse(ids)._read_format(names, **read_kwargs)

    def read(self, fields=None, load="_classic_read"):
        names = self._validate_field_names(fields)
        self._check_access("read")
        existing = [rid for rid in self._ids if self._exists(rid)]
        return self._browse(existing)._read_format(names, load=load)

    def _read_format(self, fnames, load="_classic_read"):
        result = []
        for rid in self._ids:
            values: dict[str, Any] = {"id": rid}
            for name in fnames:
                fld = self._fields[name]
                values[name] = self._convert_to_read(fld, self._get(rid, name), load)
            result.append(values)
        return result

    @api_model
    def fields_get(self, allfields=None, attributes=None):
        result = {}
        for name, fld in self._fields.items():
            if allfields and name not in allfields:
                continue
            desc = fld.describe()
            if attributes:
                desc = {key: value for key, value in desc.items() if key in attributes}
            result[name] = dict(sorted(desc.items()))
        return result

    @api_model
    def check_access_rights(self, operation, raise_exception=True):
        try:
            self._check_access(operation)
        except AccessError:
            if raise_exception:
                raise
            return False
        return True

    def has_access(self, operation):
        """Odoo 18's check without raising (recorded in transcripts 69 and 70): the model's access rights,
        then record rules for real ids. The simulator has no record rules, so an empty recordset and a
        recordset answer alike (read from Odoo 18's `BaseModel.has_access` / `_check_access`)."""
        try:
            self._check_access(operation)
        except AccessError:
            return False
        return True

    @api_returns("ids")
    def exists(self):
        return self._browse([rid for rid in self._ids if self._exists(rid)])

    def write(self, vals):
        if not self:
            return True
        self._check_access("write")
        for name in vals:
            if name not in self._fields:
                raise ValueError(f"Invalid field {name!r} on model {self._name!r}")
        self._check_missing()
        self._write(vals)
        return True

    @api_model_create_multi
    def create(self, vals_list):
        if isinstance(vals_list, Mapping):
            vals_list = [vals_list]
        self._check_access("create")
        for vals in vals_list:
            for name in vals:
                if name not in self._fields:
                    raise ValueError(f"Invalid field {name!r} on model {self._name!r}")
        records = self._browse([self._create_one(vals) for vals in vals_list])
        automation.after_create(records)
        return records

    def unlink(self):
        if not self:
            return True
        self._check_access("unlink")
        self._check_missing()
        self._unlink()
        return True

    # -- write machinery ------------------------------------------------------------------------------
    def _default_values(self, vals: Mapping[str, Any]) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        for name, fld in self._fields.items():
            if name in vals:
                continue
            key = f"default_{name}"
            if key in self.env.context:
                defaults[name] = self.env.context[key]
            elif fld.default is not None:
                defaults[name] = fld.default(self) if callable(fld.default) else fld.default
        return defaults

    def _prepare_create(self, vals: dict[str, Any]) -> dict[str, Any]:
        """Model hook: complete the values of a new record (sequences, derived fields)."""
        return vals

    def _create_one(self, vals: Mapping[str, Any]) -> int:
        full = self._prepare_create({**self._default_values(vals), **vals})
        row: dict[str, Any] = {}
        one2many: list[tuple[Field, Any]] = []
        for name, value in full.items():
            fld = self._fields[name]
            if name == "id":
                continue
            if fld.type == "one2many":
                one2many.append((fld, value))
            elif fld.type == "many2many":
                row[name] = self._apply_m2m(fld, value)
            elif fld.store and not fld.related and fld.compute is None:
                row[name] = self._convert_to_write(fld, value)
        for name, fld in self._fields.items():
            if (
                fld.required
                and fld.store
                and fld.type not in (*X2MANY, "boolean")
                and row.get(name) in (None, False, "")
            ):
                raise ValidationError(
                    "The operation cannot be completed:\n"
                    "- Create/update: a mandatory field is not set.\n"
                    "- Delete: another model requires the record being deleted. "
                    "If possible, archive it instead.\n\n"
                    f"Model: {self._description} ({self._name})\nField: {fld.string} ({name})\n"
                )
        rid = self.env.sim.db.next_id(self._name)
        if self._log_access:
            row.setdefault("create_date", self.env.now)
            row.setdefault("write_date", self.env.now)
            row.setdefault("create_uid", self.env.uid)
            row.setdefault("write_uid", self.env.uid)
        self.env.txn.insert(self._name, rid, row)  # type: ignore[arg-type]
        for fld, commands in one2many:
            self._apply_o2m(rid, fld, commands)
        return rid

    def _write(self, vals: Mapping[str, Any]) -> None:
        """Store values without access checks (Odoo's _write plus the automation hooks of write)."""
        stored: dict[str, Any] = {}
        many2many: dict[str, Any] = {}
        one2many: list[tuple[Field, Any]] = []
        for name, value in vals.items():
            fld = self._fields[name]
            if fld.type == "one2many":
                one2many.append((fld, value))
            elif fld.type == "many2many":
                many2many[name] = value
            elif fld.store and not fld.related and fld.compute is None:
                stored[name] = self._convert_to_write(fld, value)
        pending = automation.before_write(self, list(vals))
        for rid in self._ids:
            row_vals = dict(stored)
            for name, commands in many2many.items():
                row_vals[name] = self._apply_m2m(self._fields[name], commands)
            if self._log_access:
                row_vals.setdefault("write_date", self.env.now)
                row_vals.setdefault("write_uid", self.env.uid)
            self.env.txn.update(self._name, rid, row_vals)  # type: ignore[arg-type]
        for fld, commands in one2many:
            for rid in self._ids:
                self._apply_o2m(rid, fld, commands)
        automation.after_write(self, pending)

    def _unlink(self) -> None:
        for rid in self._ids:
            self.env.txn.delete(self._name, rid)  # type: ignore[arg-type]


def access_error_message(model: BaseModel, operation: str, groups: tuple[str, ...]) -> str:
    verb = {"read": "access", "write": "modify", "create": "create", "unlink": "delete"}[operation]
    message = f"You are not allowed to {verb} '{model._description}' ({model._name}) records."
    names = sorted(GROUP_NAMES.get(g, g) for g in groups)
    if names:
        listing = "\n".join(f"\t- {name}" for name in names)
        message += f"\n\nThis operation is allowed for the following groups:\n{listing}"
    else:
        message += "\n\nNo group currently allows this operation."
    return message + "\n\nContact your administrator to request access if necessary."


def method_attr(cls: type, name: str, attr: str) -> Any:
    """A decorator attribute (_api, _returns) of a method, inherited by overrides as Odoo's api does."""
    for klass in cls.__mro__:
        method = klass.__dict__.get(name)
        if method is not None and hasattr(method, attr):
            return getattr(method, attr)
    return None


# Recordset helpers Odoo marks @api.private: they exist on every model but RPC may not call them.
_API_PRIVATE = frozenset({"sudo", "with_context", "ensure_one"})


def public_method(model: BaseModel, name: str) -> Callable:
    """service.model.get_public_method: private names are refused, unknown names do not exist."""
    private = AccessError(f"Private methods (such as '{model._name}.{name}') cannot be called remotely.")
    if name.startswith("_"):
        raise private
    method = getattr(type(model), name, None)
    if not callable(method) or isinstance(method, type):
        raise AttributeError(f"The method '{model._name}.{name}' does not exist")
    if name in _API_PRIVATE:
        raise private
    return method
