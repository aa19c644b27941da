//! Regular expressions matched against whole names, as Java's `Matcher.matches` matches
//! them: consumer pattern subscriptions (the tools' `--include`, KIP-848's
//! `SubscribedTopicRegex`), transactional id patterns, `kafka-get-offsets.sh` topics.

use regex::Regex;

/// `pattern` matched against whole names. The pattern must be valid on its own, so
/// that `a)|(b` is refused, as Java refuses it, rather than read as two halves.
pub fn whole_names(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(pattern)?;
    Regex::new(&format!("^(?:{pattern})$"))
}

/// Why a pattern is refused, on one line: the regex crate's description without its
/// drawing of where ("unclosed group").
pub fn why_invalid(error: &regex::Error) -> String {
    let text = error.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_pattern_is_described_on_one_line() {
        let error = whole_names("a(").expect_err("unclosed");
        assert_eq!(why_invalid(&error), "unclosed group");
    }

    #[test]
    fn a_pattern_matches_whole_names_and_must_stand_alone() {
        let pattern = whole_names("orders-.*|audit").expect("valid");
        assert!(pattern.is_match("orders-eu") && pattern.is_match("audit"));
        assert!(!pattern.is_match("audit-log") && !pattern.is_match("old-orders-eu"));
        assert!(whole_names("a)|(b").is_err());
        assert!(whole_names("(").is_err());
    }
}
