//! `EVENT_TYPES_INCLUDE` and `EVENT_TYPES_EXCLUDE`: which events are sent at all, by
//! `eventType` pattern (`*` matches any run of characters; exclude wins).

use super::{ConfigError, Env};

/// Which event types are sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// `EVENT_TYPES_INCLUDE`: when not empty, only matching types are sent.
    include: Vec<String>,
    /// `EVENT_TYPES_EXCLUDE`: matching types are never sent.
    exclude: Vec<String>,
}

impl EventFilter {
    /// Reads both variables.
    pub fn from_env(env: &(impl Env + ?Sized)) -> Result<Self, ConfigError> {
        Ok(EventFilter {
            include: patterns(env, "EVENT_TYPES_INCLUDE")?,
            exclude: patterns(env, "EVENT_TYPES_EXCLUDE")?,
        })
    }

    /// Whether any pattern is set (so matching can be skipped entirely).
    pub fn is_active(&self) -> bool {
        !self.include.is_empty() || !self.exclude.is_empty()
    }

    /// Whether an event of `event_type` is sent. An event without a readable `eventType`
    /// matches no pattern: sent unless an include list is set.
    pub fn admits(&self, event_type: Option<&str>) -> bool {
        let matches = |patterns: &[String]| {
            event_type.is_some_and(|t| patterns.iter().any(|p| glob(p.as_bytes(), t.as_bytes())))
        };
        (self.include.is_empty() || matches(&self.include)) && !matches(&self.exclude)
    }
}

fn patterns(env: &(impl Env + ?Sized), name: &'static str) -> Result<Vec<String>, ConfigError> {
    let Some(value) = env.get(name) else {
        return Ok(Vec::new());
    };
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-*".contains(&b)) {
                Ok(p.to_owned())
            } else {
                Err(ConfigError::new(
                    name,
                    format!("{p:?} is not an eventType pattern; expected comma-separated types of letters, digits, '.', '_', '-' with '*' for any run, e.g. system.agent.*,user.session.access_admin_app"),
                ))
            }
        })
        .collect()
}

/// `*` matches any run of bytes (none included); everything else matches itself.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            // Let the last star take one more byte and try again from there.
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &str, exclude: &str) -> EventFilter {
        EventFilter::from_env(
            &[
                ("EVENT_TYPES_INCLUDE", include),
                ("EVENT_TYPES_EXCLUDE", exclude),
            ][..],
        )
        .unwrap()
    }

    #[test]
    fn wildcards_match_runs_and_exclude_wins() {
        let f = filter("user.*,system.agent.*", "user.session.access_admin_app");
        assert!(f.admits(Some("user.session.start")));
        assert!(f.admits(Some("system.agent.ad.read_config")));
        assert!(!f.admits(Some("user.session.access_admin_app")));
        assert!(!f.admits(Some("policy.evaluate_sign_on")));
        assert!(!f.admits(None), "an include list admits only what it names");
        let only_exclude = filter("", "*.read_*");
        assert!(only_exclude.admits(None));
        assert!(!only_exclude.admits(Some("system.agent.ad.read_config")));
        assert!(!EventFilter::default().is_active());
        assert!(EventFilter::default().admits(Some("anything")));
    }

    #[test]
    fn glob_is_exact_outside_stars() {
        for (p, t, m) in [
            ("a*c", "abbbc", true),
            ("a*c", "abbb", false),
            ("*", "", true),
            ("a**b", "ab", true),
            ("user.session.start", "user.session.start", true),
            ("user.session.start", "user.session.startx", false),
            ("*.start", "user.session.start", true),
            ("u*s*t", "user.session.start", true),
        ] {
            assert_eq!(glob(p.as_bytes(), t.as_bytes()), m, "{p} ~ {t}");
        }
    }

    #[test]
    fn a_bad_pattern_names_the_variable() {
        let err = EventFilter::from_env(&[("EVENT_TYPES_EXCLUDE", "user.*, bad pattern!")][..])
            .unwrap_err();
        assert_eq!(err.variable, "EVENT_TYPES_EXCLUDE");
        assert!(err.problem.contains("\"bad pattern!\""), "{err}");
    }
}
