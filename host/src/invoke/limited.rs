//! A request's body as every path runs it: under the route's
//! `max_request_body_bytes`, and counted in the route's metrics when it
//! comes from the client.

use super::admission::InstanceSlot;
use crate::body::LimitedBody;
use crate::request::RequestTag;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The request with its body under the route's `max_request_body_bytes`
/// (and, when it comes from the client, counted in the route's metrics),
/// and the flag the limit sets when the body runs over it.
pub fn limited_request<B>(
    request: hyper::Request<B>,
    max_body: u64,
    tag: &RequestTag,
    slot: &InstanceSlot,
) -> (hyper::Request<LimitedBody<B>>, Arc<AtomicBool>) {
    let too_large = Arc::new(AtomicBool::new(false));
    // The client's body (first element) counts in the route's metrics;
    // a body a middleware passes on is the same bytes again.
    let from_client = matches!(slot, InstanceSlot::First(_));
    let request = request.map(|body| {
        let body = LimitedBody::new(body, max_body, too_large.clone());
        if from_client {
            body.counted(tag.metrics.clone())
        } else {
            body
        }
    });
    (request, too_large)
}
