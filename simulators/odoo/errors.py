"""Odoo's exceptions as clients see them on the wire, and the traceback text Odoo puts in `debug`.

Clients dispatch on `error.data.name`, which Odoo builds from the exception's module and class name,
so each class here claims the module of the real one (`odoo.exceptions`, `psycopg2`, ...). Builtin
errors (ValueError, TypeError, KeyError...) are raised as the real builtins.
"""

from __future__ import annotations

import traceback


class UserError(Exception):
    """odoo.exceptions.UserError; `http_status` is what Odoo 19's JSON-2 answers with."""

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


# -- the `debug` text ------------------------------------------------------------------------------
# Not the simulator's own stack: a few of Odoo 18's outer frames, then the exception line, which is all
# clients (and the transcript tests) read of it.
_TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/usr/lib/python3/dist-packages/odoo/http.py", line 2122, in _transactioning\n'
    "    return service_model.retrying(func, env=self.env)\n"
    '  File "/usr/lib/python3/dist-packages/odoo/service/model.py", line 156, in retrying\n'
    "    result = func()\n"
)


def render_traceback(exc: BaseException) -> str:
    """The `debug` text: a short Odoo traceback ending with the exception line."""
    return _TRACEBACK + "".join(traceback.format_exception_only(type(exc), exc))
