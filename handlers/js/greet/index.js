// Greet a visitor by name under `/js/...`: an HTML page at /js (or /js/) and
// the same greeting as JSON at /js/api; anything else below /js/ is a 404.
//
// The component is built by componentize-js, whose StarlingMonkey engine
// implements wasi:http/incoming-handler itself and hands each request to the
// `fetch` event listener below as a web-standard Request.

/** The route prefix this handler is mounted at (a `/js/...` wildcard). */
const PREFIX = "/js";

const ESCAPES = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escape text for use in HTML element content and quoted attribute values. */
function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (ch) => ESCAPES[ch]);
}

function greeting(name) {
  return `Hello, ${name}!`;
}

function page(name) {
  const text = escapeHtml(greeting(name));
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${text}</title>
</head>
<body>
<h1>${text}</h1>
<p>Served by a JavaScript component on Switchyard. Try <code>?name=you</code> or <a href="${PREFIX}/api?name=${escapeHtml(encodeURIComponent(name))}">the JSON API</a>.</p>
</body>
</html>
`;
}

function json(status, document, headers = {}) {
  return new Response(JSON.stringify(document), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function handle(request) {
  const url = new URL(request.url);
  const name = url.searchParams.get("name") || "world"; // absent or empty
  const path = url.pathname;

  if (request.method !== "GET" && request.method !== "HEAD") {
    return json(405, { error: "method not allowed; use GET" }, { allow: "GET, HEAD" });
  }
  if (path === PREFIX || path === `${PREFIX}/`) {
    return new Response(page(name), {
      headers: { "content-type": "text/html; charset=utf-8" },
    });
  }
  if (path === `${PREFIX}/api`) {
    return json(200, { greeting: greeting(name) });
  }
  return json(404, { error: `no such page: ${path}` });
}

addEventListener("fetch", (event) => {
  event.respondWith(handle(event.request));
});
