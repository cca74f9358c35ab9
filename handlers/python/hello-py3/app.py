"""Greet over wasi:http 0.3 (p3) from Python: `Hello from Python p3! METHOD PATH`.

The module componentize-py turns into hello-py3.wasm, the Python p3 guest:
it shows that a componentize-py component built against wit/p3 (world
switchyard:handler-p3/handler, which `world` in this folder names) serves on
the host next to the Rust ones. `handle` is a coroutine that returns the
response at once; a spawned coroutine writes the body after that, the p3 way.
"""

import componentize_py_async_support
import wit_world

from componentize_py_async_support.futures import FutureWriter
from componentize_py_async_support.streams import ByteStreamWriter
from componentize_py_types import Ok
from wit_world import exports
from wit_world.imports.wasi_http_types import Fields, Method, Method_Other, Request, Response


class Handler(exports.Handler):
    """The `wasi:http/handler@0.3.0` export."""

    async def handle(self, request: Request) -> Response:
        # `-` for a missing path, as hello-p3 says it.
        target = request.get_path_with_query() or "-"
        text = f"Hello from Python p3! {method_name(request.get_method())} {target}\n"
        body, contents = wit_world.byte_stream()
        trailers, trailers_rx = wit_world.result_option_wasi_http_types_fields_wasi_http_types_error_code_future(
            lambda: Ok(None)
        )
        componentize_py_async_support.spawn(write_body(body, trailers, text.encode()))
        headers = Fields.from_list([("content-type", b"text/plain; charset=utf-8")])
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
