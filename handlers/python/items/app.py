"""Summarise a JSON list of numbers: `POST /py/items` with `{"items": [...]}`.

The module componentize-py turns into items.wasm. It exports
wasi:http/incoming-handler through the `IncomingHandler` class below, using
bindings generated from the root wit/ (world switchyard:handler/handler).
Every answer is JSON, errors included, so clients parse one content type.
"""

import json
import math

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Post,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

# The largest request body we read; anything longer is answered with 413.
MAX_BODY_BYTES = 1024 * 1024
# How much to ask the input stream for per read.
READ_CHUNK_BYTES = 64 * 1024
# blocking-write-and-flush accepts at most 4096 bytes per call.
WRITE_CHUNK_BYTES = 4096


class HttpError(Exception):
    """A client error, answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        try:
            if not isinstance(request.method(), Method_Post):
                raise HttpError(405, "method not allowed; use POST", [("allow", b"POST")])
            summary = summarise(parse_items(read_body(request)))
            respond(response_out, 200, summary)
        except HttpError as err:
            respond(response_out, err.status, {"error": err.message}, err.headers)


def read_body(request: IncomingRequest) -> bytes:
    """Read the whole request body from its stream, refusing more than MAX_BODY_BYTES."""
    declared = request.headers().get("content-length")
    if declared:
        try:
            if int(declared[0]) > MAX_BODY_BYTES:
                raise too_large()
        except ValueError:
            pass  # a malformed length is the host's business; the stream is the truth
    chunks = []
    total = 0
    # The stream is a child of the body, so it is dropped first (inner `with`).
    with request.consume() as body, body.stream() as stream:
        while True:
            try:
                chunk = stream.blocking_read(READ_CHUNK_BYTES)
            except Err as err:
                if isinstance(err.value, StreamError_Closed):
                    break
                raise HttpError(400, "could not read the request body")
            total += len(chunk)
            if total > MAX_BODY_BYTES:
                raise too_large()
            chunks.append(chunk)
    return b"".join(chunks)


def too_large() -> HttpError:
    return HttpError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")


def parse_items(raw: bytes) -> list:
    """Return the `items` list of a JSON body, or raise a 400 saying what is wrong."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "request body is not UTF-8")
    try:
        doc = json.loads(text, parse_constant=reject_constant)
    except (ValueError, RecursionError) as err:
        raise HttpError(400, f"request body is not valid JSON: {err}")
    if not isinstance(doc, dict):
        raise HttpError(400, "request body must be a JSON object")
    if "items" not in doc:
        raise HttpError(400, "missing field: items")
    items = doc["items"]
    if not isinstance(items, list):
        raise HttpError(400, "items is not a list")
    for index, item in enumerate(items):
        # bool is a subclass of int in Python, but JSON true/false are not numbers.
        if isinstance(item, bool) or not isinstance(item, (int, float)):
            raise HttpError(400, f"items[{index}] is not a number")
        if isinstance(item, float) and not math.isfinite(item):  # e.g. 1e999
            raise HttpError(400, f"items[{index}] is out of range")
    return items


def reject_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not a JSON number")


def summarise(items: list) -> dict:
    count = len(items)
    if count == 0:
        return {"count": 0, "sum": 0, "min": None, "max": None, "mean": None}
    if all(isinstance(item, int) for item in items):
        total = sum(items)  # exact for integers of any size
    else:
        try:
            total = math.fsum(items)
        except OverflowError:  # the sum passes the float range, or a huge integer does
            raise HttpError(400, "sum of items is out of range")
    try:
        mean = total / count
    except OverflowError:  # an integer sum too large for a float
        mean = None
    if isinstance(total, float) and not math.isfinite(total):
        raise HttpError(400, "sum of items is out of range")
    return {"count": count, "sum": total, "min": min(items), "max": max(items), "mean": mean}


def respond(response_out: ResponseOutparam, status: int, document: dict, headers=()) -> None:
    payload = json.dumps(document, allow_nan=False).encode("utf-8")
    fields = Fields.from_list(
        [("content-type", b"application/json"), ("content-length", str(len(payload)).encode())]
        + list(headers)
    )
    response = OutgoingResponse(fields)
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    # The stream must be dropped before its body is finished.
    with body.write() as stream:
        for start in range(0, len(payload), WRITE_CHUNK_BYTES):
            stream.blocking_write_and_flush(payload[start : start + WRITE_CHUNK_BYTES])
    OutgoingBody.finish(body, None)
