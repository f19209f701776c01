//! gzip for request bodies and dead-letter objects, at the one level both use.

use std::io::{Read, Write};

use flate2::write::GzEncoder;
use flate2::Compression;

/// gzip level for request bodies. Level 1 still compresses varied Okta events about 10:1
/// (`make bench`) at roughly twice the speed of level 6, and the Lambda is billed by the
/// millisecond.
pub const GZIP_LEVEL: u32 = 1;

/// gzip of `data` at [`GZIP_LEVEL`].
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(
        Vec::with_capacity(data.len() / 6 + 64),
        Compression::new(GZIP_LEVEL),
    );
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// The text inside a gzip object.
pub fn decompress_text(gz: &[u8]) -> Result<String, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .map_err(|e| format!("not gzipped UTF-8 text: {e}"))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_what_is_not_gzip() {
        let text = "{\"uuid\":\"x\"}\n".repeat(50);
        let gz = compress(text.as_bytes());
        assert!(gz.len() < text.len() / 5);
        assert_eq!(decompress_text(&gz).unwrap(), text);
        assert!(decompress_text(b"plain")
            .unwrap_err()
            .contains("not gzipped"));
    }
}
