"""The {{name}} handler: answer every request with a one-line greeting.

componentize-py turns this module into build/{{name}}.wasm. The component
exports wasi:http/handler@0.3.0 (wasi:http 0.3, "p3") through the `Handler`
class below, using bindings generated from the project's wit/p3/ (world
switchyard:handler-p3/handler) at build time. `handle` is a coroutine that
returns the response at once; a spawned coroutine then writes its body.
"""

import componentize_py_async_support
import wit_world

from componentize_py_async_support.futures import FutureWriter
from componentize_py_async_support.streams import ByteStreamWriter
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.wasi_http_types import Fields, Method, Method_Other, Request, Response

# What every answer starts with; edit it and `switchyard dev` serves the new text.
GREETING = "Hello from {{name}} (Python, wasi:http 0.3)!"


class Handler(exports.Handler):
    """The wasi:http/handler@0.3.0 export: one call per request."""

    async def handle(self, request: Request) -> Response:
        target = request.get_path_with_query() or "/"
        text = f"{GREETING} {method_name(request.get_method())} {target}\n"
        body, contents = wit_world.byte_stream()
        trailers, trailers_rx = wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
            lambda: Ok(None)
        )
        componentize_py_async_support.spawn(write_body(body, trailers, text.encode()))
        headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8")])
        # The status defaults to 200.
        return Response.new(headers, contents, trailers_rx)[0]


async def write_body(body: ByteStreamWriter, trailers: FutureWriter, data: bytes) -> None:
    """Write `data`, close the body, then resolve the trailers: none."""
    with body:
        await body.write_all(data)
    # The trailers future resolves only once the stream is closed.
    with trailers:
        await trailers.write(Ok(None))


def method_name(method: Method) -> str:
    """`GET` for `Method_Get` and so on; an `other` method as it was sent."""
    if isinstance(method, Method_Other):
        return method.value
    return type(method).__name__.removeprefix("Method_").upper()
