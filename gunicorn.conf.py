"""gunicorn's settings for the portal, read from the directory it is started in (the command line wins).

Threads, not one process per request: a client that sends its body slowly holds one thread, never a
whole worker, and the intake gives it WEBHOOK_BODY_TIMEOUT_SECONDS before answering 408. gunicorn's own
logs go through the portal's redaction, so no URL token reaches them either.
"""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", 2))
threads = int(os.environ.get("WEB_THREADS", 8))
bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
timeout = 60
keepalive = 5
# The access log leaves out query strings, which carry the webhook tokens.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(L)s'
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "portal.logging.RedactFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"}},
    "handlers": {
        "error": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"handlers": ["error"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["error"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}
