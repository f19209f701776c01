//! Where a Security Lake object goes: the key Security Lake expects under the custom source's
//! location, and the batch id that makes a retried batch write the same keys again.

use aws_lc_rs::digest;

use super::parquet::LakeObject;

/// The S3 key of `object`: `<prefix>/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/`
/// `<batch_id>-<class_uid>.zstd.parquet`, with exactly one `/` after `location_prefix` (the key
/// prefix of the custom source's location, such as `ext/okta-auth/1.0/`, as
/// `CreateCustomLogSource` returned it; none when it is empty).
pub fn object_key(
    location_prefix: &str,
    region: &str,
    account: &str,
    object: &LakeObject,
    batch_id: &str,
) -> String {
    let prefix = location_prefix.trim_end_matches('/');
    let separator = if prefix.is_empty() { "" } else { "/" };
    format!(
        "{prefix}{separator}region={region}/accountId={account}/eventDay={day}/{batch_id}-{class}.zstd.parquet",
        day = object.day,
        class = object.class_uid,
    )
}

/// A name for the batch made of `lines`, taken from their content: the first 128 bits of the
/// SHA-256 (aws-lc-rs, already here for JWS) of each line's length and bytes, as 32 hex digits.
/// The same lines in the same order give the same id, so a retried batch writes the same keys
/// and overwrites what an earlier attempt may have written; the lengths keep `["ab", "c"]`
/// apart from `["a", "bc"]`.
pub fn batch_id(lines: &[&[u8]]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    for line in lines {
        context.update(&(line.len() as u64).to_le_bytes());
        context.update(line);
    }
    let digest = context.finish();
    digest.as_ref()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(class_uid: u32, day: &str) -> LakeObject {
        LakeObject {
            class_uid,
            day: day.to_owned(),
            rows: 1,
            bytes: Vec::new(),
            first_time: 0,
            last_time: 0,
        }
    }

    #[test]
    fn object_key_follows_the_security_lake_layout_with_one_slash_after_the_prefix() {
        let object = object(3002, "20261130");
        let id = batch_id(&[b"{}"]);
        let want = format!(
            "ext/okta-auth/1.0/region=eu-west-1/accountId=123456789012/eventDay=20261130/{id}-3002.zstd.parquet"
        );
        for prefix in [
            "ext/okta-auth/1.0/",
            "ext/okta-auth/1.0",
            "ext/okta-auth/1.0//",
        ] {
            let key = object_key(prefix, "eu-west-1", "123456789012", &object, &id);
            assert_eq!(key, want, "prefix {prefix:?}");
        }
        let bare = object_key("", "eu-west-1", "123456789012", &object, &id);
        assert!(bare.starts_with("region=eu-west-1/"), "{bare}");
    }

    #[test]
    fn batch_id_is_stable_and_changes_with_any_byte_or_line_boundary() {
        let lines: [&[u8]; 2] = [
            br#"{"class_uid":3002,"time":1}"#,
            br#"{"class_uid":3002,"time":2}"#,
        ];
        let id = batch_id(&lines);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        assert_eq!(batch_id(&lines), id, "same lines, same id");
        let changed: [&[u8]; 2] = [
            br#"{"class_uid":3002,"time":1}"#,
            br#"{"class_uid":3002,"time":3}"#,
        ];
        assert_ne!(batch_id(&changed), id, "one byte changed");
        let reordered = [lines[1], lines[0]];
        assert_ne!(batch_id(&reordered), id, "another order");
        assert_ne!(batch_id(&[b"ab", b"c"]), batch_id(&[b"a", b"bc"]));
    }
}
