//! A loopback TCP proxy that makes every HTTP request wait before it goes on, so a test or
//! benchmark against moto sees the latency a real AWS endpoint has; it also counts requests
//! and keeps what clients sent (the first 8 KiB of each read), for tests that check which
//! credential signed a request or what an STS call asked for.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Methods whose request line starts a new request on a connection.
const METHODS: [&[u8]; 6] = [b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE ", b"PATCH "];

/// The proxy; stops when dropped.
pub struct LatencyProxy {
    addr: SocketAddr,
    requests: Arc<AtomicU64>,
    sent: Arc<Mutex<Vec<String>>>,
    server: JoinHandle<()>,
}

impl LatencyProxy {
    /// Forwards 127.0.0.1:<ephemeral> to `upstream`, delaying each request by `delay`.
    pub async fn start(upstream: SocketAddr, delay: Duration) -> LatencyProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("latency proxy: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("latency proxy: no local address");
        let requests = Arc::new(AtomicU64::new(0));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (counter, kept) = (requests.clone(), sent.clone());
        let server = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (counter, kept) = (counter.clone(), kept.clone());
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        relay(client, server, delay, counter, kept).await;
                    }
                });
            }
        });
        LatencyProxy {
            addr,
            requests,
            sent,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests seen so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// What clients sent so far, one entry per read (its first 8 KiB, as lossy UTF-8).
    pub fn sent(&self) -> Vec<String> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Client to server with a wait before each request line; server to client as it comes.
async fn relay(
    client: TcpStream,
    server: TcpStream,
    delay: Duration,
    requests: Arc<AtomicU64>,
    sent: Arc<Mutex<Vec<String>>>,
) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Ok(mut sent) = sent.lock() {
                sent.push(String::from_utf8_lossy(&buf[..n.min(8192)]).into_owned());
            }
            if METHODS.iter().any(|m| buf[..n].starts_with(m)) {
                requests.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_counted_and_delayed() {
        let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream_addr = upstream.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = upstream.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = c.read(&mut buf).await {
                        if n == 0
                            || c.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                                .await
                                .is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        let proxy = LatencyProxy::start(upstream_addr, Duration::from_millis(30)).await;
        let mut c = TcpStream::connect(proxy.addr).await.unwrap();
        let started = std::time::Instant::now();
        for _ in 0..2 {
            c.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let mut buf = [0u8; 256];
            let n = c.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        }
        assert!(
            started.elapsed() >= Duration::from_millis(60),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(proxy.requests(), 2);
        let sent = proxy.sent();
        assert_eq!(sent.len(), 2);
        assert!(
            sent.iter().all(|s| s.starts_with("GET / HTTP/1.1")),
            "{sent:?}"
        );
    }
}
