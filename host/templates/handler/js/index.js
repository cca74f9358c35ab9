// The {{name}} handler: answer every request with a one-line greeting.
//
// componentize-js turns this file into build/{{name}}.wasm. Its
// StarlingMonkey engine implements wasi:http/incoming-handler (wasi:http 0.2)
// itself and hands each request to the `fetch` event listener below as a
// web-standard Request; the Response given to respondWith is the answer.

// What every answer starts with; edit it and `switchyard dev` serves the new text.
const GREETING = "Hello from {{name}} (JavaScript)!";

addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const text = `${GREETING} ${event.request.method} ${url.pathname}${url.search}\n`;
  event.respondWith(
    new Response(text, {
      status: 200,
      headers: { "content-type": "text/plain; charset=utf-8" },
    }),
  );
});
