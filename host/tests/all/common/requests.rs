//! The requests every test file makes, said once: send a GET or a POST,
//! check the status with the protocol (or input) named in the failure, read
//! the body, read the generation a response was served by. Each test then
//! reads as what it asks and what it expects; anything a helper here does
//! not cover (extra headers, streamed reads) keeps using reqwest directly.

use bytes::Bytes;
use http_body_util::Empty;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use reqwest::{Body, Client, IntoUrl, Response};
use std::net::SocketAddr;
use tokio::task::JoinHandle;

/// GET `url`; the response, its body still to read.
pub async fn get(client: &Client, url: impl IntoUrl) -> Response {
    client.get(url).send().await.unwrap()
}

/// POST `body` to `url`; the response, its body still to read.
pub async fn post(client: &Client, url: impl IntoUrl, body: impl Into<Body>) -> Response {
    client.post(url).body(body).send().await.unwrap()
}

/// GET `url`: status and body.
pub async fn get_text(client: &Client, url: impl IntoUrl) -> (u16, String) {
    status_and_text(get(client, url).await).await
}

/// POST `body` to `url`: status and body.
pub async fn post_text(client: &Client, url: impl IntoUrl, body: impl Into<Body>) -> (u16, String) {
    status_and_text(post(client, url, body).await).await
}

async fn status_and_text(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// The body of `response` once its status is `status`; a failure names
/// `context` (the protocol, the input).
pub async fn expect_text(response: Response, status: u16, context: &str) -> String {
    assert_eq!(response.status(), status, "{context}");
    response.text().await.unwrap()
}

/// The `x-switchyard-generation` a response was served by ("" if none).
pub fn generation(response: &Response) -> String {
    response
        .headers()
        .get("x-switchyard-generation")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// GET `url`: status, generation and body.
pub async fn get_generation(client: &Client, url: impl IntoUrl) -> (u16, String, String) {
    let response = get(client, url).await;
    let status = response.status().as_u16();
    let generation = generation(&response);
    (status, generation, response.text().await.unwrap())
}

/// A request body sent in `chunks` with no Content-Length (chunked in
/// HTTP/1.1), so the server learns its size only by reading it.
pub fn chunked(chunks: impl IntoIterator<Item = Vec<u8>>) -> Body {
    let chunks: Vec<_> = chunks.into_iter().map(Ok::<_, std::io::Error>).collect();
    Body::wrap_stream(futures::stream::iter(chunks))
}

/// At `url`, a route with `max_request_body_bytes = 1000`: 5000 bytes get 413
/// whether declared (refused before the guest runs) or streamed without a
/// length (refused once past the limit), and a 3-byte body is served.
pub async fn assert_1000_byte_body_limit(client: &Client, url: &str, protocol: &str) {
    let declared = post(client, url, vec![b'x'; 5000]).await;
    assert_eq!(declared.status(), 413, "{protocol}");
    let streamed = post(client, url, chunked((0..5).map(|_| vec![b'y'; 1000]))).await;
    assert_eq!(streamed.status(), 413, "{protocol}");
    let fine = post(client, url, "abc").await;
    assert_eq!(fine.status(), 200, "{protocol}");
}

/// A bare HTTP/2 connection (prior knowledge) to `addr`, for tests that need
/// what reqwest hides (when the server closes the connection, a window never
/// given back): the sender, and the task driving the connection, which ends
/// when the connection does.
pub async fn h2_connection(
    addr: SocketAddr,
) -> (SendRequest<Empty<Bytes>>, JoinHandle<hyper::Result<()>>) {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    (send, tokio::spawn(connection))
}
