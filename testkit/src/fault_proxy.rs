//! A loopback HTTP/1.1 proxy in front of moto that answers some requests itself, as a
//! hostile-but-real AWS endpoint does: requests whose line starts with a given prefix (`PUT
//! /bucket/`) get a canned answer (S3's `503 SlowDown`, `403 AccessDenied`) or none at all;
//! the rest go to moto. One request per connection (`Connection: close` both ways), which keeps
//! the relaying exact without parsing moto's answers.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the proxy does with a matching request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answers with this status and S3 error code (XML body, as S3 writes it).
    Answer(u16, &'static str),
    /// Reads the request and never answers.
    Silence,
}

type Rules = Arc<Mutex<Vec<(String, Fault)>>>;

/// The proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    rules: Rules,
    faulted: Arc<AtomicU64>,
    server: JoinHandle<()>,
}

impl FaultProxy {
    /// Forwards 127.0.0.1:<ephemeral> to `upstream`, with no faults yet.
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fault proxy: no local address");
        let rules: Rules = Arc::default();
        let faulted = Arc::new(AtomicU64::new(0));
        let (r, f) = (rules.clone(), faulted.clone());
        let server = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (rules, faulted) = (r.clone(), f.clone());
                tokio::spawn(async move {
                    let _ = serve(client, upstream, rules, faulted).await;
                });
            }
        });
        FaultProxy {
            addr,
            rules,
            faulted,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Requests whose request line starts with `prefix` (`"PUT /bucket/"`) meet `fault`.
    pub fn fail(&self, prefix: &str, fault: Fault) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push((prefix.to_owned(), fault));
        }
    }

    /// No more faults.
    pub fn heal(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    /// Requests answered by a fault so far.
    pub fn faulted(&self) -> u64 {
        self.faulted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// One request: read whole, then faulted or relayed to `upstream` with the answer copied back.
async fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    rules: Rules,
    faulted: Arc<AtomicU64>,
) -> std::io::Result<()> {
    let request = read_request(&mut client).await?;
    let line_end = request
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(request.len());
    let line = String::from_utf8_lossy(&request[..line_end]).into_owned();
    let fault = rules.lock().ok().and_then(|rules| {
        rules
            .iter()
            .find(|(prefix, _)| line.starts_with(prefix.as_str()))
            .map(|(_, f)| f.clone())
    });
    match fault {
        Some(Fault::Answer(status, code)) => {
            faulted.fetch_add(1, Ordering::SeqCst);
            let body = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{code} (fault proxy)</Message><RequestId>FAULT</RequestId></Error>"
            );
            let head = format!(
                "HTTP/1.1 {status} {code}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            client.write_all(head.as_bytes()).await?;
            client.write_all(body.as_bytes()).await?;
            client.shutdown().await
        }
        Some(Fault::Silence) => {
            faulted.fetch_add(1, Ordering::SeqCst);
            // Holds the connection until the client gives up.
            let mut sink = [0u8; 1024];
            while client.read(&mut sink).await? > 0 {}
            Ok(())
        }
        None => {
            let mut server = TcpStream::connect(upstream).await?;
            server.write_all(&with_close(&request)).await?;
            let mut answer = Vec::new();
            server.read_to_end(&mut answer).await?;
            client.write_all(&answer).await?;
            client.shutdown().await
        }
    }
}

/// The head and as many body bytes as its `Content-Length` says.
async fn read_request(client: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut request = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let chunked = head.contains("transfer-encoding: chunked");
            // A chunked body ends with its last chunk (`0`, maybe trailers) and a blank line.
            let complete = if chunked {
                request.len() > end + 4 && request.ends_with(b"\r\n\r\n")
            } else {
                request.len() >= end + 4 + length
            };
            if complete {
                return Ok(request);
            }
        }
        let n = client.read(&mut chunk).await?;
        if n == 0 {
            return Ok(request);
        }
        request.extend_from_slice(&chunk[..n]);
    }
}

/// `request` with its `Connection` header replaced by `Connection: close`.
fn with_close(request: &[u8]) -> Vec<u8> {
    let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") else {
        return request.to_vec();
    };
    let head = String::from_utf8_lossy(&request[..end]);
    let mut out: Vec<u8> = Vec::with_capacity(request.len() + 20);
    for line in head.split("\r\n") {
        if !line.to_ascii_lowercase().starts_with("connection:") {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&request[end + 4..]);
    out
}
