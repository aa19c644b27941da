//! SASL/PLAIN (RFC 4616): one message, `[authzid] NUL username NUL password`, checked
//! against the users of the listener's JAAS config.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

use super::Refused;

/// The user the message proves, or why not; checked in the order and with the words
/// of Kafka's `PlainSaslServer` (bytes that are not UTF-8 read as replacement
/// characters, as Java decodes them).
pub fn authenticate(message: &[u8], users: &BTreeMap<String, String>) -> Result<String, Refused> {
    let text = String::from_utf8_lossy(message);
    let parts: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = parts[..] else {
        // Kafka counts up to four tokens.
        return Err(Refused(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len().min(4)
        )));
    };
    if user.is_empty() {
        return Err(Refused(
            "Authentication failed: username not specified".to_string(),
        ));
    }
    if password.is_empty() {
        return Err(Refused(
            "Authentication failed: password not specified".to_string(),
        ));
    }
    let known = users
        .get(user)
        .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(password.as_bytes())));
    if !known {
        return Err(Refused(
            "Authentication failed: Invalid username or password".to_string(),
        ));
    }
    if !authzid.is_empty() && authzid != user {
        return Err(Refused::other_authorization_id());
    }
    Ok(user.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_known_user_with_its_password_logs_in() {
        let users = BTreeMap::from([("alice".to_string(), "secret".to_string())]);
        assert_eq!(authenticate(b"\0alice\0secret", &users).unwrap(), "alice");
        assert_eq!(
            authenticate(b"alice\0alice\0secret", &users).unwrap(),
            "alice"
        );
        let refused = |message: &[u8]| authenticate(message, &users).unwrap_err().0;
        assert!(refused(b"\0alice\0wrong").contains("Invalid username or password"));
        assert!(refused(b"\0bob\0secret").contains("Invalid username or password"));
        assert!(refused(b"bob\0alice\0secret").contains("authorization id"));
        // The password is checked before the authorization id.
        assert!(refused(b"bob\0alice\0wrong").contains("Invalid username or password"));
        assert!(refused(b"\0\0secret").contains("username not specified"));
        assert!(refused(b"\0alice\0").contains("password not specified"));
        assert!(refused(b"\0\xff\0secret").contains("Invalid username or password"));
        for (malformed, tokens) in [
            (&b""[..], 1),
            (b"alice", 1),
            (b"\0alice", 2),
            (b"\0a\0b\0c", 4),
            (b"\0a\0b\0c\0d\0e", 4),
        ] {
            assert_eq!(
                refused(malformed),
                format!("Invalid SASL/PLAIN response: expected 3 tokens, got {tokens}")
            );
        }
    }
}
