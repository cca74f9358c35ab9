//! A real upstream HTTP/1.1 server for the tests of routes that end in
//! `upstream = ...`: it records what reached it and on which connection.

use hyper::body::Incoming;
use std::sync::{Arc, Mutex};

/// A real HTTP/1.1 server: it records each request's head and the peer
/// address of the connection it came on, and answers 200 with the request
/// body streamed back, plus `connection: x-upstream-hop` and the
/// `x-upstream-hop` header it names (a proxy must drop both).
/// [`Upstream::stop`] closes the listener and every connection.
pub struct Upstream {
    pub url: String,
    seen: Arc<Mutex<Vec<http::request::Parts>>>,
    peers: Arc<Mutex<Vec<std::net::SocketAddr>>>,
    server: tokio::task::JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Upstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Upstream::serve(listener)
    }

    /// A fresh server on the port of this one, which is stopped first: an
    /// upstream restart, as a deploy does it.
    pub async fn restart(self) -> Upstream {
        let addr = self.url.trim_start_matches("http://").to_string();
        self.stop().await;
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        Upstream::serve(listener)
    }

    pub async fn stop(self) {
        self.server.abort();
        let _ = self.server.await;
    }

    fn serve(listener: tokio::net::TcpListener) -> Upstream {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let peers = Arc::new(Mutex::new(Vec::new()));
        let (record, record_peer) = (seen.clone(), peers.clone());
        let server = tokio::spawn(async move {
            // Dropped with the accept loop: aborts every connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, peer) = listener.accept().await.unwrap();
                let record = record.clone();
                let record_peer = record_peer.clone();
                connections.spawn(async move {
                    let service =
                        hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                            let (parts, body) = request.into_parts();
                            record.lock().unwrap().push(parts);
                            record_peer.lock().unwrap().push(peer);
                            async move {
                                let response = hyper::Response::builder()
                                    .header("x-upstream", "yes")
                                    .header("connection", "x-upstream-hop")
                                    .header("x-upstream-hop", "1")
                                    .body(body)
                                    .unwrap();
                                Ok::<_, std::convert::Infallible>(response)
                            }
                        });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        Upstream {
            url,
            seen,
            peers,
            server,
        }
    }

    /// How many TCP connections the requests so far came on.
    pub fn connections(&self) -> usize {
        let peers = self.peers.lock().unwrap();
        peers.iter().collect::<std::collections::HashSet<_>>().len()
    }

    pub fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn last(&self) -> http::request::Parts {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream was called")
    }
}
