//! Large bodies for the streaming tests: generated chunk by chunk from a
//! pattern (never held whole by the test) and checked byte by byte as they
//! come back, so a body that was reordered, truncated or padded fails at the
//! first byte that differs.

use futures::StreamExt;

/// The byte at offset `i` of every patterned body.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

/// A `total`-byte patterned request body, streamed in 256 KiB chunks.
pub fn patterned_body(total: usize) -> reqwest::Body {
    const CHUNK: usize = 256 * 1024;
    let chunks = (0..total.div_ceil(CHUNK)).map(move |i| {
        let len = CHUNK.min(total - i * CHUNK);
        Ok::<_, std::io::Error>(
            (0..len)
                .map(|j| pattern(i * CHUNK + j))
                .collect::<Vec<u8>>(),
        )
    });
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

/// Read `response`'s body and check it is the `total`-byte patterned body;
/// `context` names the case in a failure.
pub async fn assert_patterned(response: reqwest::Response, total: usize, context: &str) {
    let mut body = response.bytes_stream();
    let mut received = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap_or_else(|e| panic!("{context}: the body failed: {e}"));
        for (k, &b) in chunk.iter().enumerate() {
            assert_eq!(
                b,
                pattern(received + k),
                "{context}: byte {} differs",
                received + k
            );
        }
        received += chunk.len();
    }
    assert_eq!(received, total, "{context}");
}
