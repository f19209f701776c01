//! The answers of a hostile destination: one that echoes the request, one that answers with
//! a huge body.

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// The request's URI and headers, raw, as JSON and base64, as an echoing server would.
pub(super) fn echo(uri: &Uri, headers: &HeaderMap) -> String {
    let mut lines = vec![format!("uri: {uri}")];
    let mut map = serde_json::Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        lines.push(format!(
            "{name}: {value} base64={}",
            base64(value.as_bytes())
        ));
        map.insert(name.to_string(), serde_json::Value::String(value));
    }
    lines.push(serde_json::Value::Object(map).to_string());
    lines.join("\n")
}

/// Standard base64 with padding, as an echoing server would encode a header.
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize])
            } else {
                '='
            });
        }
    }
    out
}

/// A `status` answer whose body is `bytes` long, produced as it is read.
pub(super) fn huge(status: u16, bytes: usize) -> Response {
    const CHUNK: usize = 64 * 1024;
    let chunks = bytes.div_ceil(CHUNK);
    let block = Bytes::from(vec![b'x'; CHUNK]);
    let stream = futures::stream::iter((0..chunks).map(move |i| {
        let len = CHUNK.min(bytes - i * CHUNK);
        Ok::<_, std::io::Error>(block.slice(..len))
    }));
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (code, axum::body::Body::from_stream(stream)).into_response()
}
