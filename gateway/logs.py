"""Logging setup: human-readable lines by default, one JSON object per line on request.

Request lines carry the request id that is also returned to the client as
``x-amz-request-id``, so a user's error report leads straight to the log line. They
never carry query strings (presigned URLs hold signatures and credentials), header
values or bodies.
"""

from __future__ import annotations

import json
import logging
import sys
import time

ACCESS = logging.getLogger("provgate.access")

# Attributes every LogRecord has; anything else was passed through ``extra=`` and
# belongs in the JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                       + f".{int(record.msecs):03d}Z",
               "level": record.levelname.lower(), "logger": record.name,
               "message": record.getMessage()}
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Neither format shows a record's thread, process or source line, and every request
    # writes a record: skip looking them up (the source line is a walk up the stack).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None


def log_request(*, request_id: str, remote: str, identity: str, method: str, path: str,
                operation: str, status: int, bytes_in: int, bytes_out: int,
                seconds: float, reason: str = "") -> None:
    """One line per S3 request. ``path`` must be the path alone, never the query;
    ``reason`` says why a refused request was refused (error code and message)."""
    ACCESS.info("%s %s %s %s -> %d in=%d out=%d %.1fms id=%s by=%s%s", remote, method, path,
                operation, status, bytes_in, bytes_out, seconds * 1000, request_id, identity,
                f" reason={reason!r}" if reason else "",
                extra={"request_id": request_id, "remote": remote, "identity": identity,
                       "method": method, "path": path, "operation": operation,
                       "status": status, "bytes_in": bytes_in, "bytes_out": bytes_out,
                       "duration_ms": round(seconds * 1000, 2),
                       **({"reason": reason} if reason else {})})
