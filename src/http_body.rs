//! Reading an HTTP answer's body without trusting its size: destinations and Okta alike may
//! answer hugely or without end. Each caller says which reading it wants: the whole body or
//! an error ([`read_whole`], for what must be read completely to mean anything: a System Log
//! page, a token), or its first bytes ([`read_prefix`], for what only needs its beginning: an
//! error answer's reason).

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body went on past `cap` bytes; the rest was not read.
    OverCap {
        /// The cap, in bytes.
        cap: usize,
    },
    /// The connection failed while reading.
    Transport(reqwest::Error),
}

/// The whole of `response`'s body, or an error once it passes `cap` bytes (nothing past the
/// cap is read).
pub(crate) async fn read_whole(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if chunk.len() > cap.saturating_sub(out.len()) {
            return Err(BodyError::OverCap { cap });
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The first `cap` bytes of `response`'s body (the rest is never read), and the error that
/// ended it early, if any.
pub(crate) async fn read_prefix(
    mut response: reqwest::Response,
    cap: usize,
) -> (Vec<u8>, Option<reqwest::Error>) {
    let mut out = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = cap.saturating_sub(out.len());
                out.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if out.len() >= cap {
                    return (out, None);
                }
            }
            Ok(None) => return (out, None),
            Err(e) => return (out, Some(e)),
        }
    }
}
