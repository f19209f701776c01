//! Property tests: every parser of outside text or numbers is fed arbitrary input and must
//! answer (a value or a clear refusal) without panicking, and encodings must round-trip.

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::delivery::parse_retry_after;
use crate::okta::{next_link, RateLimit};

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.append(HeaderName::from_static(name), v);
        }
    }
    h
}

/// Header-like text: anything printable, and numbers of every size and sign.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,40}",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i128>().prop_map(|n| n.to_string()),
        Just("Fri, 31 Dec 9999 23:59:59 GMT".to_owned()),
        Just("Thu, 01 Jan 1970 00:00:00 GMT".to_owned()),
    ]
}

proptest! {
    #[test]
    fn retry_after_never_panics_and_reads_whole_seconds(value in header_text(), secs in any::<u64>()) {
        let now = SystemTime::now();
        let _ = parse_retry_after(&value, now);
        prop_assert_eq!(parse_retry_after(&secs.to_string(), now), Some(Duration::from_secs(secs)));
    }

    #[test]
    fn rate_limit_headers_never_panic_nor_give_a_negative_wait(
        limit in header_text(),
        remaining in header_text(),
        reset in header_text(),
        date in header_text(),
        headroom in 0.0f64..0.9,
    ) {
        let h = headers(&[
            ("x-rate-limit-limit", limit),
            ("x-rate-limit-remaining", remaining),
            ("x-rate-limit-reset", reset),
            ("date", date),
        ]);
        let received = Instant::now();
        if let Some(rate) = RateLimit::from_headers(&h, received) {
            prop_assert!(rate.reset_at().is_none_or(|at| at >= received));
            let _ = rate.must_wait(headroom);
            prop_assert!(rate.reserved(headroom) <= rate.limit.saturating_add(1));
        }
    }

    #[test]
    fn link_headers_never_panic_and_next_is_a_bracketed_target(value in "[ -~]{0,80}") {
        let h = headers(&[("link", value.clone())]);
        if let Some(next) = next_link(&h) {
            let bracketed = format!("<{next}");
            prop_assert!(value.contains(&bracketed), "{} from {}", next, value);
        }
    }

    #[test]
    fn seconds_settings_take_whole_numbers_in_range_or_name_the_variable(value in header_text()) {
        let env = [("MAX_EVENT_AGE_SECONDS", value.as_str())];
        match crate::config::max_event_age(&env[..]) {
            Ok(age) if value.trim().is_empty() => {
                prop_assert_eq!(age, Some(crate::config::DEFAULT_MAX_EVENT_AGE), "unset");
            }
            Ok(age) => {
                let secs: u64 = value.trim().parse().expect("only whole numbers are accepted");
                prop_assert_eq!(age.map_or(0, |a| a.as_secs()), secs);
            }
            Err(e) => prop_assert_eq!(e.variable, "MAX_EVENT_AGE_SECONDS"),
        }
    }

    #[test]
    fn a_pretty_printed_event_compacts_to_one_line_with_the_same_value(
        keys in proptest::collection::vec("[a-z\\n\" \\\\]{1,8}", 1..6),
        texts in proptest::collection::vec("[ -~\\n\\t\u{e9}\u{1F600}]{0,12}", 1..6),
        numbers in proptest::collection::vec(any::<f64>().prop_filter("finite", |f| f.is_finite()), 1..4),
    ) {
        let mut map = serde_json::Map::new();
        for (k, t) in keys.iter().zip(&texts) {
            map.insert(k.clone(), serde_json::json!({ "t": t, "n": numbers, "l": [t, null, true] }));
        }
        let value = serde_json::Value::Object(map);
        let pretty = serde_json::to_string_pretty(&value).unwrap_or_default();
        let line = crate::event::compact_json(&pretty);
        prop_assert!(!line.contains('\n') && !line.contains('\r'));
        // Text for text what a compact writer makes of the same value: same keys in the same
        // order, numbers and strings as they were written.
        prop_assert_eq!(line.as_ref(), serde_json::to_string(&value).unwrap_or_default());
    }
}
