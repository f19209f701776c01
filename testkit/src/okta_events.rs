//! Realistic synthetic Okta System Log data and the envelopes it arrives in.

use md5::{Digest, Md5};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// One `user.session.start` LogEvent, single line, fixed key order.
///
/// `\u00e9` escapes and the number `45.50` are deliberate: a pipeline that
/// re-serialises events instead of forwarding their bytes changes them.
const EVENT_TEMPLATE: &str = concat!(
    r#"{"actor":{"id":"00u1qw2e3r4t5y6u7i8o","type":"User","alternateId":"ren\u00e9e.dupont@acme.example","displayName":"Ren\u00e9e Dupont","detailEntry":null},"#,
    r#""client":{"userAgent":{"rawUserAgent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36","os":"Mac OS X","browser":"CHROME"},"zone":"null","device":"Computer","id":null,"ipAddress":"198.51.100.23","geographicalContext":{"city":"Montr\u00e9al","state":"Quebec","country":"Canada","postalCode":94107,"geolocation":{"lat":45.50,"lon":-73.5673}}},"#,
    r#""device":null,"#,
    r#""authenticationContext":{"authenticationProvider":"OKTA_AUTHENTICATION_PROVIDER","credentialProvider":"OKTA_CREDENTIAL_PROVIDER","credentialType":"PASSWORD","issuer":null,"interface":null,"authenticationStep":0,"rootSessionId":"102aBcDeFgHiJkLmNoPqRsTuV","externalSessionId":"102aBcDeFgHiJkLmNoPqRsTuV"},"#,
    r#""displayMessage":"User login to Okta","eventType":"user.session.start","outcome":{"result":"SUCCESS","reason":null},"published":@PUBLISHED@,"#,
    r#""securityContext":{"asNumber":64496,"asOrg":"example networks inc.","isp":"example isp","domain":"example.net","isProxy":false},"severity":"INFO","#,
    r#""debugContext":{"debugData":{"requestId":@REQUEST_ID@,"requestUri":"/idp/idx/identify","url":"/idp/idx/identify?","dtHash":"3f7b9c2d1e0a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c","behaviors":"{New Geo-Location=NEGATIVE, New Device=POSITIVE, New IP=NEGATIVE, New State=NEGATIVE, New Country=NEGATIVE, Velocity=NEGATIVE, New City=NEGATIVE}","risk":"{reasons=Anomalous Device, level=LOW}","threatSuspected":"false"}},"#,
    r#""legacyEventType":"core.user_auth.login_success","transaction":{"type":"WEB","id":@REQUEST_ID@,"detail":{}},"uuid":@UUID@,"version":"0","#,
    r#""request":{"ipChain":[{"ip":"198.51.100.23","geographicalContext":{"city":"Montr\u00e9al","state":"Quebec","country":"Canada","postalCode":94107,"geolocation":{"lat":45.50,"lon":-73.5673}},"version":"V4","source":null}]},"#,
    r#""target":[{"id":"pfd1a2b3c4d5e6f7g8h9","type":"AuthenticatorEnrollment","alternateId":"unknown","displayName":"Password","detailEntry":null},{"id":"0oa1b2c3d4e5f6g7h8i9","type":"AppInstance","alternateId":"Okta Admin Console","displayName":"Okta Admin Console","detailEntry":{"signOnModeType":"OPENID_CONNECT"}}]}"#,
);

/// JSON string literal for `s` (with quotes).
fn json_string(s: &str) -> String {
    // Serialising a &str cannot fail; fall back to an empty literal anyway.
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// A realistic Okta System Log LogEvent (about 2 KB of single-line JSON).
///
/// `uuid` and `published` are inserted as JSON strings; the request and
/// transaction ids are derived from `uuid` so events stay distinguishable.
pub fn okta_event(uuid: &str, published: &str) -> String {
    let compact: String = uuid.chars().filter(char::is_ascii_alphanumeric).collect();
    let request_id = format!("aHR0cHM6{}AAABbc", truncate_chars(&compact, 16));
    EVENT_TEMPLATE
        .replace("@UUID@", &json_string(uuid))
        .replace("@PUBLISHED@", &json_string(published))
        .replace("@REQUEST_ID@", &json_string(&request_id))
}

fn truncate_chars(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// An EventBridge event from the Okta partner source; `detail_json` goes in verbatim.
pub fn eventbridge_envelope(detail_json: &str, id: &str, time: &str) -> String {
    format!(
        r#"{{"version":"0","id":{},"detail-type":"SystemLog","source":"aws.partner/okta.com/acme-dev/okta-ingest","account":"123456789012","time":{},"region":"us-east-1","resources":[],"detail":{}}}"#,
        json_string(id),
        json_string(time),
        detail_json
    )
}

/// An SQS Lambda event with one record per `(message id, body)`.
pub fn sqs_event(bodies: &[(String, String)]) -> String {
    sqs_event_received(bodies, 1)
}

/// [`sqs_event`] as SQS hands the messages out for the `receive_count`th time
/// (`attributes.ApproximateReceiveCount`).
pub fn sqs_event_received(bodies: &[(String, String)], receive_count: u32) -> String {
    let sent = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).to_string();
    let records: Vec<String> = bodies
        .iter()
        .map(|(message_id, body)| {
            let md5: String = Md5::digest(body.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!(
                concat!(
                    r#"{{"messageId":{id},"receiptHandle":{rh},"body":{body},"#,
                    r#""attributes":{{"ApproximateReceiveCount":"{receive_count}","SentTimestamp":"{sent}","SenderId":"AIDAIENQZJOLO23YVJ4VO","ApproximateFirstReceiveTimestamp":"{sent}"}},"#,
                    r#""messageAttributes":{{}},"md5OfBody":"{md5}","eventSource":"aws:sqs","#,
                    r#""eventSourceARN":"arn:aws:sqs:us-east-1:123456789012:okta-ingest","awsRegion":"us-east-1"}}"#
                ),
                id = json_string(message_id),
                rh = json_string(&format!("AQEB{message_id}/receipt+handle==")),
                body = json_string(body),
                sent = sent,
                md5 = md5,
                receive_count = receive_count,
            )
        })
        .collect();
    format!(r#"{{"Records":[{}]}}"#, records.join(","))
}

/// `2023-05-30T14:17:58.126Z`: UTC, exactly three fractional digits.
pub fn rfc3339_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// One UTC timestamp found in a text.
struct Found {
    start: usize,
    len: usize,
    /// Number of fractional digits (0 when there is no fraction).
    frac_digits: usize,
    at: OffsetDateTime,
}

/// Shifts every `YYYY-MM-DDTHH:MM:SS(.f+)?Z` timestamp in `text` by one delta
/// so the newest becomes `now - 60 s`; the others keep their distance to it.
///
/// Works on raw text (so also inside JSON-escaped SQS bodies) and keeps each
/// timestamp's precision, so the byte length never changes. Timestamps whose
/// shifted year would not fit in four digits are left alone.
pub fn rebase_timestamps(text: &str, now: OffsetDateTime) -> String {
    let found = find_timestamps(text.as_bytes());
    let Some(newest) = found.iter().map(|f| f.at).max() else {
        return text.to_string();
    };
    let delta = (now - Duration::seconds(60)) - newest;
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for f in &found {
        let shifted =
            f.at.checked_add(delta)
                .filter(|t| (0..=9999).contains(&t.year()));
        let Some(shifted) = shifted else { continue };
        out.push_str(&text[copied..f.start]);
        out.push_str(&format_like(shifted, f.frac_digits));
        copied = f.start + f.len;
    }
    out.push_str(&text[copied..]);
    out
}

/// Formats `t` (UTC) with `frac_digits` fractional digits, truncating.
fn format_like(t: OffsetDateTime, frac_digits: usize) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if frac_digits > 0 {
        let nanos = format!("{:09}", t.nanosecond());
        s.push('.');
        s.push_str(&nanos[..frac_digits]);
    }
    s.push('Z');
    s
}

/// Scans for timestamps not glued to a preceding digit, left to right, non-overlapping.
fn find_timestamps(b: &[u8]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut i = 0;
    while i + 20 <= b.len() {
        if (i == 0 || !b[i - 1].is_ascii_digit()) && b[i].is_ascii_digit() {
            if let Some(f) = parse_at(b, i) {
                i += f.len;
                found.push(f);
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Parses a timestamp starting exactly at `start`.
fn parse_at(b: &[u8], start: usize) -> Option<Found> {
    let s = &b[start..];
    let shape = b"dddd-dd-ddTdd:dd:dd";
    if s.len() < shape.len() + 1 {
        return None;
    }
    for (c, want) in s.iter().zip(shape) {
        let ok = if *want == b'd' {
            c.is_ascii_digit()
        } else {
            c == want
        };
        if !ok {
            return None;
        }
    }
    let num = |from: usize, to: usize| -> u32 {
        s[from..to]
            .iter()
            .fold(0, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let mut len = shape.len();
    let mut frac_digits = 0;
    let mut nanos = 0u32;
    if s.get(len) == Some(&b'.') {
        let digits = s[len + 1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 || digits > 9 {
            return None;
        }
        frac_digits = digits;
        nanos = num(len + 1, len + 1 + digits) * 10u32.pow((9 - digits) as u32);
        len += 1 + digits;
    }
    if s.get(len) != Some(&b'Z') {
        return None;
    }
    len += 1;
    let month = Month::try_from(u8::try_from(num(5, 7)).ok()?).ok()?;
    let date = Date::from_calendar_date(
        i32::try_from(num(0, 4)).ok()?,
        month,
        u8::try_from(num(8, 10)).ok()?,
    )
    .ok()?;
    let time = Time::from_hms_nano(
        u8::try_from(num(11, 13)).ok()?,
        u8::try_from(num(14, 16)).ok()?,
        u8::try_from(num(17, 19)).ok()?,
        nanos,
    )
    .ok()?;
    Some(Found {
        start,
        len,
        frac_digits,
        at: PrimitiveDateTime::new(date, time).assume_utc(),
    })
}

/// The `(messageId, body)` pairs of a Lambda SQS event.
pub fn sqs_bodies(sqs_event_json: &str) -> Vec<(String, String)> {
    let v: serde_json::Value = serde_json::from_str(sqs_event_json).expect("an SQS event is JSON");
    v["Records"]
        .as_array()
        .expect("an SQS event has Records")
        .iter()
        .map(|r| {
            (
                r["messageId"].as_str().unwrap_or_default().to_owned(),
                r["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The `detail` of an EventBridge envelope whose last key is `detail`, cut out as text:
/// exactly what Okta sent, found without a JSON parser so it can check one.
pub fn detail_text(envelope: &str) -> &str {
    let start = envelope
        .find("\"detail\":")
        .expect("the envelope has a detail")
        + "\"detail\":".len();
    &envelope[start..envelope.trim_end().len() - 1]
}

/// The lines of a gzipped NDJSON object (a dead-letter file), parsed.
pub fn gunzip_ndjson(gz: &[u8]) -> Vec<serde_json::Value> {
    use std::io::Read;
    let mut text = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut text)
        .expect("gzipped UTF-8");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn event_is_valid_json_of_about_2kb_with_fixed_fields() {
        let e = okta_event(
            "a1b2c3d4-0000-11ee-8000-000000000001",
            "2023-05-30T14:17:58.126Z",
        );
        assert!(
            (1500..=2600).contains(&e.len()),
            "event is {} bytes",
            e.len()
        );
        assert!(!e.contains('\n'));
        assert!(e.contains(r#"Ren\u00e9e"#) && e.contains("45.50"));
        let v: serde_json::Value = serde_json::from_str(&e).expect("valid JSON");
        assert_eq!(v["uuid"], "a1b2c3d4-0000-11ee-8000-000000000001");
        assert_eq!(v["published"], "2023-05-30T14:17:58.126Z");
        assert_eq!(v["eventType"], "user.session.start");
        assert_eq!(v["actor"]["displayName"], "Ren\u{e9}e Dupont");
        assert!(v["client"]["geographicalContext"]["postalCode"].is_number());
        assert!(e.starts_with(r#"{"actor":{"id""#));
    }

    #[test]
    fn envelopes_are_valid_and_embed_verbatim() {
        let detail = okta_event("u-1", "2023-05-30T14:17:58.126Z");
        let eb = eventbridge_envelope(&detail, "eb-1", "2023-05-30T14:17:59Z");
        assert!(eb.ends_with(&format!(r#""detail":{detail}}}"#)));
        let v: serde_json::Value = serde_json::from_str(&eb).expect("valid JSON");
        assert_eq!(v["source"], "aws.partner/okta.com/acme-dev/okta-ingest");

        let sqs = sqs_event(&[("m-1".into(), eb.clone()), ("m-2".into(), "hi".into())]);
        let v: serde_json::Value = serde_json::from_str(&sqs).expect("valid JSON");
        let records = v["Records"].as_array().expect("Records");
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["body"], eb.as_str());
        assert_eq!(records[1]["messageId"], "m-2");
        // md5("hi")
        assert_eq!(records[1]["md5OfBody"], "49f68a5c8493ec2c0bf489821c21fc3b");
        assert_eq!(records[1]["eventSource"], "aws:sqs");
    }

    #[test]
    fn rfc3339_millis_format() {
        assert_eq!(
            rfc3339_millis(datetime!(2023-05-30 14:17:58.126_999 UTC)),
            "2023-05-30T14:17:58.126Z"
        );
        assert_eq!(
            rfc3339_millis(datetime!(2023-05-30 16:17:58 +02:00)),
            "2023-05-30T14:17:58.000Z"
        );
    }

    #[test]
    fn rebase_shifts_all_timestamps_by_one_delta() {
        let text = r#"{"a":"2023-05-30T14:17:58.126Z","b":"2023-05-30T14:17:00Z","c":"2023-05-29T23:59:59.5Z","n":12023-05-30T14:17:58Z,"bad":"2023-13-01T00:00:00Z"}"#;
        let now = datetime!(2024-02-29 00:00:30.999 UTC);
        let out = rebase_timestamps(text, now);
        assert_eq!(out.len(), text.len());
        assert_eq!(
            out,
            r#"{"a":"2024-02-28T23:59:30.999Z","b":"2024-02-28T23:58:32Z","c":"2024-02-28T09:41:32.3Z","n":12023-05-30T14:17:58Z,"bad":"2023-13-01T00:00:00Z"}"#
        );
    }

    #[test]
    fn rebase_works_inside_escaped_sqs_bodies_and_keeps_text_without_timestamps() {
        let body = eventbridge_envelope(
            &okta_event("u-1", "2020-01-01T00:00:00.000Z"),
            "eb-1",
            "2020-01-01T00:00:01Z",
        );
        let sqs = sqs_event(&[("m-1".into(), body)]);
        let now = datetime!(2025-06-01 12:00:00 UTC);
        let out = rebase_timestamps(&sqs, now);
        assert_eq!(out.len(), sqs.len());
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        let inner: serde_json::Value =
            serde_json::from_str(v["Records"][0]["body"].as_str().expect("body")).expect("inner");
        assert_eq!(inner["time"], "2025-06-01T11:59:00Z");
        assert_eq!(inner["detail"]["published"], "2025-06-01T11:58:59.000Z");
        assert_eq!(rebase_timestamps("no dates here é", now), "no dates here é");
    }
}
