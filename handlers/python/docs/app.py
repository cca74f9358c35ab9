"""Keep JSON documents by id over REST, in the wasi:keyvalue store `default`.

The module componentize-py turns into docs.wasm, the Python guest that keeps
state: it shows a componentize-py component calling wasi:keyvalue (world
switchyard:handler/handler-with-state, which `world` in this folder names).
Document <id> is stored under the key `doc:<id>`; new ids come from
atomics.increment on `docs:next-id`. Every answer is JSON, errors included,
so clients parse one content type (a 204 has no body at all).

    PUT    <route>/<id>   store the JSON body: 201 {"id"} if new, 200 if replaced
    POST   <route>/       store the JSON body under a new id: 201 {"id"}
    GET    <route>/<id>   the stored JSON, or 404
    GET    <route>/       {"ids": [...], "cursor": N or null}, from one list-keys call
    DELETE <route>/<id>   204, or 404
"""

import json
import re
import urllib.parse

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.imports import atomics
from wit_world.imports import wasi_keyvalue_store as kv
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method_Delete,
    Method_Get,
    Method_Post,
    Method_Put,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

STORE = "default"
# Document <id> lives under KEY_PREFIX + id. The id counter's key does not
# start with it ("docs:" is not "doc:"), so listing never shows it.
KEY_PREFIX = "doc:"
NEXT_ID_KEY = "docs:next-id"
ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
# The route's prefix is unknown to the handler; the id follows this marker.
MARKER = "/docs/"
# The largest request body we read; anything longer is answered with 413.
MAX_BODY_BYTES = 1024 * 1024
# How much to ask the input stream for per read.
READ_CHUNK_BYTES = 64 * 1024
# blocking-write-and-flush accepts at most 4096 bytes per call.
WRITE_CHUNK_BYTES = 4096
# A cursor is a u64 in the WIT.
MAX_CURSOR = 2**64 - 1


class HttpError(Exception):
    """A client error, answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        headers = []
        try:
            status, body = serve(request)
        except HttpError as err:
            status, body, headers = err.status, as_json({"error": err.message}), err.headers
        except Err as err:
            if not isinstance(err.value, (kv.Error_NoSuchStore, kv.Error_AccessDenied, kv.Error_Other)):
                raise
            status, body = 503, as_json({"error": keyvalue_error_text(err.value)})
        respond(response_out, status, body, headers)


def serve(request: IncomingRequest):
    """Answer one request: (status, JSON body as bytes, or None for no body)."""
    path, _, query = (request.path_with_query() or "/").partition("?")
    doc_id = id_of(path)
    method = request.method()
    if doc_id == "":
        if isinstance(method, Method_Get):
            return list_ids(cursor_of(query))
        if isinstance(method, Method_Post):
            return create(read_json(request))
        raise HttpError(405, "method not allowed; use GET or POST", [("allow", b"GET, POST")])
    if not ID.fullmatch(doc_id):
        raise HttpError(400, f"invalid id {doc_id!r}: want 1 to 128 of A-Z a-z 0-9 _ . -")
    if isinstance(method, Method_Get):
        return fetch(doc_id)
    if isinstance(method, Method_Put):
        return replace(doc_id, read_json(request))
    if isinstance(method, Method_Delete):
        return delete(doc_id)
    raise HttpError(405, "method not allowed; use GET, PUT or DELETE", [("allow", b"GET, PUT, DELETE")])


def id_of(path: str) -> str:
    """Everything after the last `/docs/` in `path`, or failing that its last
    segment; "" means the collection itself."""
    at = path.rfind(MARKER)
    if at >= 0:
        return path[at + len(MARKER) :]
    return path.rpartition("/")[2]


def cursor_of(query: str):
    """The `cursor=N` of the query, or None."""
    values = [v for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True) if k == "cursor"]
    if not values:
        return None
    if not re.fullmatch(r"[0-9]+", values[0]) or int(values[0]) > MAX_CURSOR:
        raise HttpError(400, f"cursor wants a number, not {values[0]!r}")
    return int(values[0])


def list_ids(cursor):
    with kv.open(STORE) as bucket:
        page = bucket.list_keys(cursor)
    ids = [key[len(KEY_PREFIX) :] for key in page.keys if key.startswith(KEY_PREFIX)]
    return 200, as_json({"ids": ids, "cursor": page.cursor})


def create(document: bytes):
    with kv.open(STORE) as bucket:
        doc_id = str(atomics.increment(bucket, NEXT_ID_KEY, 1))
        bucket.set(KEY_PREFIX + doc_id, document)
    return 201, as_json({"id": doc_id})


def replace(doc_id: str, document: bytes):
    # exists, then set: two calls, so two concurrent PUTs of a new id may
    # both answer 201. The document stored is the last one either way.
    with kv.open(STORE) as bucket:
        existed = bucket.exists(KEY_PREFIX + doc_id)
        bucket.set(KEY_PREFIX + doc_id, document)
    return (200 if existed else 201), as_json({"id": doc_id})


def fetch(doc_id: str):
    with kv.open(STORE) as bucket:
        document = bucket.get(KEY_PREFIX + doc_id)
    if document is None:
        raise not_found(doc_id)
    return 200, document


def delete(doc_id: str):
    with kv.open(STORE) as bucket:
        if not bucket.exists(KEY_PREFIX + doc_id):
            raise not_found(doc_id)
        bucket.delete(KEY_PREFIX + doc_id)
    return 204, None


def not_found(doc_id: str) -> HttpError:
    return HttpError(404, f"no document '{doc_id}'")


def keyvalue_error_text(error) -> str:
    """The error's WIT case, as the Rust handlers say it."""
    if isinstance(error, kv.Error_NoSuchStore):
        return "no-such-store"
    if isinstance(error, kv.Error_AccessDenied):
        return "access-denied"
    return f"other: {error.value}"


def read_json(request: IncomingRequest) -> bytes:
    """The request body, checked to be one JSON value; stored as sent."""
    raw = read_body(request)
    try:
        json.loads(raw.decode("utf-8"), parse_constant=reject_constant)
    except UnicodeDecodeError:
        raise HttpError(400, "request body is not UTF-8")
    except (ValueError, RecursionError) as err:
        raise HttpError(400, f"request body is not valid JSON: {err}")
    return raw


def reject_constant(name: str):
    # Python's json accepts NaN and Infinity; JSON does not.
    raise ValueError(f"{name} is not a JSON number")


def read_body(request: IncomingRequest) -> bytes:
    """Read the whole request body from its stream, refusing more than MAX_BODY_BYTES."""
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
                raise HttpError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


def as_json(document) -> bytes:
    return json.dumps(document).encode("utf-8")


def respond(response_out: ResponseOutparam, status: int, payload, headers=()) -> None:
    """Answer `status` with the JSON `payload` (bytes), or no body when it is None."""
    pairs = list(headers)
    if payload is not None:
        pairs += [("content-type", b"application/json"), ("content-length", str(len(payload)).encode())]
    response = OutgoingResponse(Fields.from_list(pairs))
    response.set_status_code(status)
    body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    # The stream must be dropped before its body is finished.
    with body.write() as stream:
        for start in range(0, len(payload or b""), WRITE_CHUNK_BYTES):
            stream.blocking_write_and_flush(payload[start : start + WRITE_CHUNK_BYTES])
    OutgoingBody.finish(body, None)
