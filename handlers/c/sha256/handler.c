/*
 * POST /c/sha256: answers 200 text/plain with the SHA-256 of the request body
 * as lowercase hex and a newline. The body is read from its input-stream in
 * chunks of at most READ_CHUNK bytes and each chunk is fed to the streaming
 * digest and freed, so memory use stays flat however large the body is.
 * Any other method gets 405; a body that breaks off mid-read gets 400.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "handler.h"
#include "sha256.h"

#define READ_CHUNK (64 * 1024)

/* Calls that cannot fail with the constant arguments given here; if one
 * does, trapping is the honest answer (the host then replies 500). */
static void must(bool ok) {
    if (!ok) abort();
}

/* Digests the body of `request` into `digest`; false if reading broke off. */
static bool digest_body(wasi_http_types_borrow_incoming_request_t request,
                        uint8_t digest[SHA256_DIGEST_SIZE]) {
    wasi_http_types_own_incoming_body_t body;
    wasi_http_types_own_input_stream_t stream;
    must(wasi_http_types_method_incoming_request_consume(request, &body));
    must(wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body), &stream));

    sha256_ctx ctx;
    sha256_init(&ctx);
    bool complete = true;
    for (;;) {
        handler_list_u8_t chunk;
        wasi_io_streams_stream_error_t err;
        if (!wasi_io_streams_method_input_stream_blocking_read(
                wasi_io_streams_borrow_input_stream(stream), READ_CHUNK, &chunk, &err)) {
            /* `closed` is the end of the body; anything else is a failure. */
            complete = err.tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED;
            wasi_io_streams_stream_error_free(&err);
            break;
        }
        sha256_update(&ctx, chunk.ptr, chunk.len);
        handler_list_u8_free(&chunk);
    }
    /* The stream is a child of the body: drop it before finishing the body. */
    wasi_io_streams_input_stream_drop_own(stream);
    wasi_http_types_future_trailers_drop_own(wasi_http_types_static_incoming_body_finish(body));

    sha256_final(&ctx, digest);
    return complete;
}

static void append_header(wasi_http_types_borrow_fields_t fields, const char *name, const char *value) {
    handler_string_t key;
    handler_string_set(&key, name);
    wasi_http_types_field_value_t val = {(uint8_t *)value, strlen(value)};
    wasi_http_types_header_error_t err;
    must(wasi_http_types_method_fields_append(fields, &key, &val, &err));
}

/* Sends a text/plain response with `text` as its whole body. `allow`, when
 * not NULL, becomes an Allow header (for 405). */
static void respond(wasi_http_types_own_response_outparam_t out, uint16_t status,
                    const char *allow, const char *text) {
    wasi_http_types_own_fields_t headers = wasi_http_types_constructor_fields();
    append_header(wasi_http_types_borrow_fields(headers), "content-type", "text/plain; charset=utf-8");
    if (allow != NULL) append_header(wasi_http_types_borrow_fields(headers), "allow", allow);

    wasi_http_types_own_outgoing_response_t response = wasi_http_types_constructor_outgoing_response(headers);
    wasi_http_types_borrow_outgoing_response_t borrowed = wasi_http_types_borrow_outgoing_response(response);
    must(wasi_http_types_method_outgoing_response_set_status_code(borrowed, status));
    wasi_http_types_own_outgoing_body_t body;
    must(wasi_http_types_method_outgoing_response_body(borrowed, &body));

    /* Hand the response over first, so the host is reading while we write. */
    wasi_http_types_result_own_outgoing_response_error_code_t result = {.is_err = false, .val.ok = response};
    wasi_http_types_static_response_outparam_set(out, &result);

    wasi_http_types_own_output_stream_t stream;
    must(wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body), &stream));
    /* Every body here is far below blocking-write-and-flush's 4096-byte limit.
     * A failed write means the client went away: nothing left to tell it. */
    handler_list_u8_t bytes = {(uint8_t *)text, strlen(text)};
    wasi_io_streams_stream_error_t err;
    if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(
            wasi_io_streams_borrow_output_stream(stream), &bytes, &err)) {
        wasi_io_streams_stream_error_free(&err);
    }
    wasi_io_streams_output_stream_drop_own(stream);

    wasi_http_types_error_code_t finish_err;
    if (!wasi_http_types_static_outgoing_body_finish(body, NULL, &finish_err)) {
        wasi_http_types_error_code_free(&finish_err);
    }
}

void exports_wasi_http_incoming_handler_handle(exports_wasi_http_incoming_handler_own_incoming_request_t request,
                                               exports_wasi_http_incoming_handler_own_response_outparam_t response_out) {
    wasi_http_types_borrow_incoming_request_t borrowed = wasi_http_types_borrow_incoming_request(request);
    wasi_http_types_method_t method;
    wasi_http_types_method_incoming_request_method(borrowed, &method);
    bool is_post = method.tag == WASI_HTTP_TYPES_METHOD_POST;
    if (method.tag == WASI_HTTP_TYPES_METHOD_OTHER) handler_string_free(&method.val.other);

    if (!is_post) {
        respond(response_out, 405, "POST", "method not allowed: POST a body to get its SHA-256\n");
    } else {
        uint8_t digest[SHA256_DIGEST_SIZE];
        if (digest_body(borrowed, digest)) {
            static const char hex[] = "0123456789abcdef";
            char text[2 * SHA256_DIGEST_SIZE + 2];
            for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
                text[2 * i] = hex[digest[i] >> 4];
                text[2 * i + 1] = hex[digest[i] & 0x0f];
            }
            text[2 * SHA256_DIGEST_SIZE] = '\n';
            text[2 * SHA256_DIGEST_SIZE + 1] = '\0';
            respond(response_out, 200, NULL, text);
        } else {
            respond(response_out, 400, NULL, "could not read the request body\n");
        }
    }
    wasi_http_types_incoming_request_drop_own(request);
}
