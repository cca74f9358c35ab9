//! `{{name}}`: a Switchyard handler in Zig, a wasi:http 0.2 component. Every
//! request gets `200 text/plain` with `Hello from {{name}} (Zig)! METHOD PATH?QUERY`.
//!
//! The module `wit` is the C binding of the project's wit/ (world
//! switchyard:handler/handler = wasi:http/proxy), made by build.sh with
//! `wit-bindgen c` and `zig translate-c`: every wasi:http type and function is
//! there as `wit.wasi_http_types_*`, and the one export this file defines is
//! `exports_wasi_http_incoming_handler_handle`. Edit it, save, and
//! `switchyard dev` rebuilds and serves the new component.

const std = @import("std");
const wit = @import("wit");

/// The greeting that starts every answer.
const greeting = "Hello from {{name}} (Zig)!";

/// A failed safety check writes its message to stderr (the host logs it) and
/// traps. Zig's default panic handler would also link stack-trace support that
/// wasm cannot use: tens of KB and file-system imports.
pub const panic = std.debug.FullPanic(writeToStderrAndTrap);

fn writeToStderrAndTrap(msg: []const u8, _: ?usize) noreturn {
    @branchHint(.cold);
    const stderr = 2;
    _ = std.c.write(stderr, "panic: ", 7);
    _ = std.c.write(stderr, msg.ptr, msg.len);
    _ = std.c.write(stderr, "\n", 1);
    @trap();
}

/// Called once per request, with the request and the slot for its response.
export fn exports_wasi_http_incoming_handler_handle(
    request: wit.exports_wasi_http_incoming_handler_own_incoming_request_t,
    response_out: wit.exports_wasi_http_incoming_handler_own_response_outparam_t,
) void {
    defer wit.wasi_http_types_incoming_request_drop_own(request);
    const borrowed = wit.wasi_http_types_borrow_incoming_request(request);

    var method: wit.wasi_http_types_method_t = undefined;
    wit.wasi_http_types_method_incoming_request_method(borrowed, &method);
    defer if (method.tag == wit.WASI_HTTP_TYPES_METHOD_OTHER) wit.handler_string_free(&method.val.other);

    // A request without a path (rare, e.g. `OPTIONS *`) counts as "/".
    var target: wit.handler_string_t = undefined;
    const has_target = wit.wasi_http_types_method_incoming_request_path_with_query(borrowed, &target);
    defer if (has_target) wit.handler_string_free(&target);
    const path_with_query = if (has_target) target.ptr[0..target.len] else "/";

    const text = std.fmt.allocPrint(std.heap.c_allocator, "{s} {s} {s}\n", .{
        greeting, methodName(&method), path_with_query,
    }) catch @panic("out of memory");
    defer std.heap.c_allocator.free(text);
    respondText(response_out, 200, text);
}

/// The method as the request line spells it.
fn methodName(method: *const wit.wasi_http_types_method_t) []const u8 {
    return switch (method.tag) {
        wit.WASI_HTTP_TYPES_METHOD_GET => "GET",
        wit.WASI_HTTP_TYPES_METHOD_HEAD => "HEAD",
        wit.WASI_HTTP_TYPES_METHOD_POST => "POST",
        wit.WASI_HTTP_TYPES_METHOD_PUT => "PUT",
        wit.WASI_HTTP_TYPES_METHOD_DELETE => "DELETE",
        wit.WASI_HTTP_TYPES_METHOD_CONNECT => "CONNECT",
        wit.WASI_HTTP_TYPES_METHOD_OPTIONS => "OPTIONS",
        wit.WASI_HTTP_TYPES_METHOD_TRACE => "TRACE",
        wit.WASI_HTTP_TYPES_METHOD_PATCH => "PATCH",
        else => method.val.other.ptr[0..method.val.other.len],
    };
}

/// Answer `status` with `text` as a whole text/plain body. wasi:http wants
/// this order: make the response, take its body, hand the response to `out`,
/// write the body's stream, drop the stream, finish the body. Calls that
/// cannot fail with these arguments are asserted with `unreachable`.
fn respondText(out: wit.wasi_http_types_own_response_outparam_t, status: u16, text: []const u8) void {
    const headers = wit.wasi_http_types_constructor_fields();
    const content_type = "text/plain; charset=utf-8";
    var name = wit.wasi_http_types_field_name_t{ .ptr = @constCast("content-type"), .len = "content-type".len };
    var value = wit.wasi_http_types_field_value_t{ .ptr = @constCast(content_type), .len = content_type.len };
    var header_err: wit.wasi_http_types_header_error_t = undefined;
    if (!wit.wasi_http_types_method_fields_append(wit.wasi_http_types_borrow_fields(headers), &name, &value, &header_err)) unreachable;

    const response = wit.wasi_http_types_constructor_outgoing_response(headers);
    const borrowed = wit.wasi_http_types_borrow_outgoing_response(response);
    if (!wit.wasi_http_types_method_outgoing_response_set_status_code(borrowed, status)) unreachable;
    var body: wit.wasi_http_types_own_outgoing_body_t = undefined;
    if (!wit.wasi_http_types_method_outgoing_response_body(borrowed, &body)) unreachable;
    var result = wit.wasi_http_types_result_own_outgoing_response_error_code_t{
        .is_err = false,
        .val = .{ .ok = response },
    };
    wit.wasi_http_types_static_response_outparam_set(out, &result);

    var stream: wit.wasi_http_types_own_output_stream_t = undefined;
    if (!wit.wasi_http_types_method_outgoing_body_write(wit.wasi_http_types_borrow_outgoing_body(body), &stream)) unreachable;
    // blocking-write-and-flush takes at most 4096 bytes a call.
    var rest = text;
    while (rest.len > 0) {
        const n = @min(rest.len, 4096);
        var bytes = wit.handler_list_u8_t{ .ptr = @constCast(rest.ptr), .len = n };
        var err: wit.wasi_io_streams_stream_error_t = undefined;
        if (!wit.wasi_io_streams_method_output_stream_blocking_write_and_flush(
            wit.wasi_io_streams_borrow_output_stream(stream),
            &bytes,
            &err,
        )) {
            // The client went away: nothing left to tell it.
            wit.wasi_io_streams_stream_error_free(&err);
            break;
        }
        rest = rest[n..];
    }
    wit.wasi_io_streams_output_stream_drop_own(stream);
    var finish_err: wit.wasi_http_types_error_code_t = undefined;
    if (!wit.wasi_http_types_static_outgoing_body_finish(body, null, &finish_err)) {
        wit.wasi_http_types_error_code_free(&finish_err);
    }
}
