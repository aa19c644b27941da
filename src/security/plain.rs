//! SASL/PLAIN (RFC 4616): one message, `[authzid] NUL username NUL password`, checked
//! against the users of the listener's JAAS config.

use std::collections::BTreeMap;

use subtle::ConstantTimeEq;

use super::{Mechanism, Refused};

/// The user the message proves, or why not.
pub fn authenticate(message: &[u8], users: &BTreeMap<String, String>) -> Result<String, Refused> {
    let parts: Vec<&[u8]> = message.split(|b| *b == 0).collect();
    let [authzid, user, password] = parts[..] else {
        return Err(Refused::invalid_credentials(Mechanism::Plain));
    };
    let (Ok(authzid), Ok(user)) = (std::str::from_utf8(authzid), std::str::from_utf8(user)) else {
        return Err(Refused::invalid_credentials(Mechanism::Plain));
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
    if !authzid.is_empty() && authzid != user {
        return Err(Refused::other_authorization_id());
    }
    let known = users
        .get(user)
        .is_some_and(|expected| bool::from(expected.as_bytes().ct_eq(password)));
    if !known {
        return Err(Refused(
            "Authentication failed: Invalid username or password".to_string(),
        ));
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
        assert!(refused(b"\0\0secret").contains("username not specified"));
        assert!(refused(b"\0alice\0").contains("password not specified"));
        for malformed in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0a\0b\0c",
            b"\0\xff\0secret",
        ] {
            assert!(refused(malformed).contains("invalid credentials with SASL mechanism PLAIN"));
        }
    }
}
