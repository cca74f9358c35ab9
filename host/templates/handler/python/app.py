"""The {{name}} handler: answer every request with a one-line greeting.

componentize-py turns this module into build/{{name}}.wasm. The component
exports wasi:http/incoming-handler (wasi:http 0.2) through the
`IncomingHandler` class below, using bindings generated from the project's
wit/ (world switchyard:handler/handler) at build time.
"""

from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    Method,
    Method_Other,
    OutgoingBody,
    OutgoingResponse,
    ResponseOutparam,
)

# What every answer starts with; edit it and `switchyard dev` serves the new text.
GREETING = "Hello from {{name}} (Python)!"


class IncomingHandler(exports.IncomingHandler):
    """The wasi:http/incoming-handler export: one call per request."""

    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        target = request.path_with_query() or "/"
        text = f"{GREETING} {method_name(request.method())} {target}\n"
        respond(response_out, 200, text.encode())


def method_name(method: Method) -> str:
    """`GET` for `Method_Get` and so on; an `other` method as it was sent."""
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()


def respond(response_out: ResponseOutparam, status: int, body: bytes) -> None:
    """Send `body` as text/plain with `status`."""
    headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8")])
    response = OutgoingResponse(headers)
    response.set_status_code(status)
    outgoing = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    # The stream must be dropped before its body is finished. One
    # blocking-write-and-flush call takes at most 4096 bytes.
    with outgoing.write() as stream:
        for start in range(0, len(body), 4096):
            stream.blocking_write_and_flush(body[start : start + 4096])
    OutgoingBody.finish(outgoing, None)
