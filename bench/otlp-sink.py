#!/usr/bin/env python3
"""bench/otlp-sink.py PORT_FILE: a local OTLP/HTTP trace receiver for
bench/run.sh's tracing-on server. It takes every POST /v1/traces, reads the
whole protobuf body and answers 200 with an empty ExportTraceServiceResponse
(zero bytes), as a collector that keeps up does; the bound port is written
to PORT_FILE. It counts what it got (exports and bytes) on stderr at exit."""

import signal
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

exports = 0
received = 0


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global exports, received
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        ok = self.path == "/v1/traces"
        if ok:
            exports += 1
            received += len(body)
        self.send_response(200 if ok else 404)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    with open(sys.argv[1], "w") as f:
        f.write(str(server.server_address[1]))

    def stop(*_):
        print(f"otlp-sink: {exports} exports, {received} bytes", file=sys.stderr)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
