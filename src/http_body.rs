//! Reading an HTTP answer's body without trusting its size: destinations and Okta alike may
//! answer hugely or without end.

/// The first `cap` bytes of `response`'s body (the rest is never read), and the error that
/// ended it early, if any.
pub(crate) async fn read_capped(
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
