//! SASL/OAUTHBEARER (RFC 7628) as Kafka's broker validates it with KIP-768's
//! `OAuthBearerValidatorCallbackHandler`: the client's first message carries a JWT
//! (`n,,\x01auth=Bearer <token>\x01\x01`), which must be signed by a key of the
//! configured JWKS, unexpired (with `sasl.oauthbearer.clock.skew.seconds`), for the
//! expected audience and issuer when those are set, and name its subject in
//! `sasl.oauthbearer.sub.claim.name`; the subject is the user. A refused token is
//! answered with RFC 7628's JSON error, to which the client replies `\x01`; the login
//! then fails with that JSON as its message, as Kafka's does. jsonwebtoken verifies the
//! signatures and the standard claims; reading the JWKS file is the caller's.

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use super::Refused;

/// The error a refused token gets (RFC 7628 section 3.2.2).
pub const INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

/// How tokens are checked: Kafka's `sasl.oauthbearer.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// `sasl.oauthbearer.jwks.endpoint.url`, a `file:` URL (or a path).
    pub jwks: std::path::PathBuf,
    pub audience: Vec<String>,
    pub issuer: Option<String>,
    pub sub_claim: String,
    pub clock_skew_seconds: u64,
}

/// The keys tokens are checked against, with the settings.
pub struct Validator {
    keys: JwkSet,
    settings: OAuthSettings,
}

impl Validator {
    /// From the JWKS file's text.
    pub fn new(settings: &OAuthSettings, jwks: &str) -> Result<Validator, String> {
        let keys: JwkSet = serde_json::from_str(jwks)
            .map_err(|e| format!("not a JWKS (RFC 7517 key set): {e}"))?;
        for key in &keys.keys {
            DecodingKey::from_jwk(key).map_err(|e| format!("a key it holds is not usable: {e}"))?;
        }
        Ok(Validator {
            keys,
            settings: settings.clone(),
        })
    }

    /// The user a client's first message proves, or why not: `Err(None)` for a token
    /// that does not validate (answered with `INVALID_TOKEN`), `Err(Some(..))` for a
    /// message that breaks the protocol.
    /// The user and when the token expires (milliseconds since the epoch), or why not.
    pub fn authenticate(&self, message: &[u8]) -> Result<(String, u64), Option<Refused>> {
        let (authzid, token) = parse_first_message(message).map_err(Some)?;
        let (user, expires_ms) = self.validate(token).map_err(|why| {
            tracing::info!("OAUTHBEARER token refused: {why}");
            None
        })?;
        if !authzid.is_empty() && authzid != user {
            return Err(Some(Refused(format!(
                "Authentication failed: Client requested an authorization id ({authzid}) that is different from the token's principal name ({user})"
            ))));
        }
        Ok((user, expires_ms))
    }

    /// The token's subject and expiry (ms), once its signature and claims check out:
    /// `exp` and `iat` present, `nbf` passed if given, as Kafka's validator requires.
    fn validate(&self, token: &str) -> Result<(String, u64), String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("its header: {e}"))?;
        let key = match &header.kid {
            Some(kid) => self.keys.find(kid),
            None if self.keys.keys.len() == 1 => self.keys.keys.first(),
            None => None,
        }
        .ok_or_else(|| format!("no key of the JWKS has its kid {:?}", header.kid))?;
        let decoding = DecodingKey::from_jwk(key).map_err(|e| e.to_string())?;
        if !SIGNED.contains(&header.alg) {
            return Err(format!("its algorithm {:?} is not a signature", header.alg));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = self.settings.clock_skew_seconds;
        validation.validate_nbf = true;
        validation.required_spec_claims.insert("iat".to_string());
        validation.validate_aud = !self.settings.audience.is_empty();
        if validation.validate_aud {
            validation.set_audience(&self.settings.audience);
            validation.required_spec_claims.insert("aud".to_string());
        }
        if let Some(issuer) = &self.settings.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".to_string());
        }
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .map_err(|e| e.to_string())?
            .claims;
        let expires_ms = claims
            .get("exp")
            .and_then(serde_json::Value::as_f64)
            .map_or(0, |seconds| (seconds * 1000.0) as u64);
        match claims
            .get(&self.settings.sub_claim)
            .and_then(|s| s.as_str())
        {
            Some(subject) if !subject.trim().is_empty() => Ok((subject.to_string(), expires_ms)),
            _ => Err(format!(
                "no {} claim naming its subject",
                self.settings.sub_claim
            )),
        }
    }
}

/// The algorithms a token may be signed with: public-key signatures only (a shared
/// secret in a JWKS would let anyone who reads it mint tokens).
const SIGNED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// RFC 7628's client first message: the authorization id (may be empty) and the bearer
/// token.
fn parse_first_message(message: &[u8]) -> Result<(&str, &str), Refused> {
    let invalid = || Refused("Invalid OAUTHBEARER client first message".to_string());
    let text = std::str::from_utf8(message).map_err(|_| invalid())?;
    let rest = text.strip_prefix("n,").ok_or_else(invalid)?;
    let (gs2_authzid, pairs) = rest.split_once(',').ok_or_else(invalid)?;
    let authzid = match gs2_authzid {
        "" => "",
        other => other.strip_prefix("a=").ok_or_else(invalid)?,
    };
    let pairs = pairs
        .strip_prefix('\u{1}')
        .and_then(|p| p.strip_suffix("\u{1}\u{1}"))
        .ok_or_else(invalid)?;
    let mut token = None;
    for pair in pairs.split('\u{1}') {
        let (key, value) = pair.split_once('=').ok_or_else(invalid)?;
        if key == "auth" {
            let (scheme, value) = value.split_once(' ').ok_or_else(invalid)?;
            if !scheme.eq_ignore_ascii_case("bearer") {
                return Err(Refused(format!(
                    "Invalid scheme in OAUTHBEARER client first message: {scheme}"
                )));
            }
            token = Some(value.trim_start_matches(' '));
        }
    }
    token
        .filter(|t| !t.is_empty())
        .map(|t| (authzid, t))
        .ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_message_gives_the_token_and_authorization_id() {
        let message = b"n,,\x01auth=Bearer abc.def.ghi\x01\x01";
        assert_eq!(parse_first_message(message).unwrap(), ("", "abc.def.ghi"));
        let with = b"n,a=alice,\x01host=x\x01auth=bearer t.o.k\x01\x01";
        assert_eq!(parse_first_message(with).unwrap(), ("alice", "t.o.k"));
        for bad in [
            &b"y,,\x01auth=Bearer t\x01\x01"[..],
            b"n,,auth=Bearer t",
            b"n,,\x01auth=Bearer t\x01",
            b"n,,\x01auth=Basic dXNlcg==\x01\x01",
            b"n,,\x01host=x\x01\x01",
            b"n,,\x01auth=Bearer \x01\x01",
            b"\xff",
        ] {
            assert!(parse_first_message(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_jwks_that_does_not_parse_is_refused() {
        let settings = OAuthSettings {
            jwks: "/k.json".into(),
            audience: Vec::new(),
            issuer: None,
            sub_claim: "sub".to_string(),
            clock_skew_seconds: 30,
        };
        assert!(Validator::new(&settings, "{").is_err());
        let empty = Validator::new(&settings, r#"{"keys":[]}"#).unwrap();
        let refused = empty.authenticate(b"n,,\x01auth=Bearer a.b.c\x01\x01");
        assert_eq!(
            refused.unwrap_err(),
            None,
            "an unverifiable token is invalid_token"
        );
    }
}
