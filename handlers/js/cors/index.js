// CORS middleware: answers browsers' preflight requests itself and adds
// `access-control-allow-origin` to every other response, which it gets by
// passing the request on to the next element of the route's chain.
//
// A Switchyard middleware is an ordinary wasi:http/proxy component: it passes
// the request on by sending it to the reserved authority `next`. Here that is
// a plain `fetch("http://next/<path>")`, which componentize-js's engine sends
// through wasi:http/outgoing-handler; Switchyard runs it in-process.

/** Methods a preflight may ask for. */
const METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE";
/** How long a browser may cache a preflight answer, in seconds. */
const MAX_AGE = "600";

function isPreflight(request) {
  return request.method === "OPTIONS" && request.headers.has("access-control-request-method");
}

function preflight(request) {
  const headers = new Headers({
    "access-control-allow-origin": "*",
    "access-control-allow-methods": METHODS,
    "access-control-max-age": MAX_AGE,
    vary: "origin, access-control-request-method, access-control-request-headers",
    "x-middleware": "cors",
  });
  const asked = request.headers.get("access-control-request-headers");
  if (asked) headers.set("access-control-allow-headers", asked);
  return new Response(null, { status: 204, headers });
}

async function pass(request) {
  const url = new URL(request.url);
  const init = { method: request.method, headers: request.headers };
  if (request.method !== "GET" && request.method !== "HEAD") {
    init.body = request.body;
    init.duplex = "half";
  }
  const response = await fetch(`http://next${url.pathname}${url.search}`, init);
  const headers = new Headers(response.headers);
  headers.set("access-control-allow-origin", "*");
  headers.append("vary", "origin");
  headers.append("x-middleware", "cors");
  return new Response(response.body, { status: response.status, headers });
}

async function handle(request) {
  if (isPreflight(request)) return preflight(request);
  try {
    return await pass(request);
  } catch (error) {
    console.error(`cors: the next element failed: ${error}`);
    return new Response("bad gateway\n", { status: 502, headers: { "content-type": "text/plain" } });
  }
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
