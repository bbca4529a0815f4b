"""Log lines carry the ids of what they are about, and never the secrets in webhook URLs."""

from __future__ import annotations

import json
import logging

from portal.logging import ContextFilter, JsonFormatter, RedactFilter, TextFormatter, log_context


def render(formatter, msg, *args, **extra) -> str:
    record = logging.LogRecord("sync.jobs", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    RedactFilter().filter(record)
    ContextFilter().filter(record)
    return formatter.format(record)


def test_url_tokens_are_masked_in_messages_and_arguments():
    line = render(TextFormatter(), '"%s" 200', "POST /aftership/webhook/tracking?token=s3cr3t&x=1 HTTP/1.1")
    assert "s3cr3t" not in line
    assert "/aftership/webhook/tracking?token=***&x=1" in line
    assert "s3cr3t" not in render(TextFormatter(), "Webhook call to http://portal/odoo/webhook/picking?token=s3cr3t")


def test_ids_from_the_context_reach_json_lines():
    with log_context(job_id=7, shipment_id=42):
        line = render(JsonFormatter(), "job %s", "done", outcome="Tracking created (dhl)")
    entry = json.loads(line)
    assert entry["msg"] == "job done"
    assert (entry["job_id"], entry["shipment_id"], entry["outcome"]) == (7, 42, "Tracking created (dhl)")


def test_context_does_not_leak_out_of_its_block():
    with log_context(job_id=7):
        pass
    assert "job_id" not in json.loads(render(JsonFormatter(), "idle"))


def test_secrets_inside_exception_arguments_and_tracebacks_are_masked():
    error = RuntimeError("500 Server Error for url: http://portal/odoo/webhook/picking?token=s3cr3t")
    assert "s3cr3t" not in render(TextFormatter(), "Webhook call failed: %s", error)
    try:
        raise error
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert "s3cr3t" not in JsonFormatter().format(record)
    assert "s3cr3t" not in TextFormatter().format(record)
