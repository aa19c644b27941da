//! SASL/SCRAM-SHA-256 and -512 (RFC 5802, RFC 7677), the server's side, and the
//! credentials it checks against: a salt, an iteration count and the two keys derived
//! from the salted password (never the password itself), as Kafka stores them.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::{Mechanism, Refused};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScramMechanism {
    #[serde(rename = "SCRAM-SHA-256")]
    Sha256,
    #[serde(rename = "SCRAM-SHA-512")]
    Sha512,
}

impl ScramMechanism {
    pub const ALL: [ScramMechanism; 2] = [ScramMechanism::Sha256, ScramMechanism::Sha512];
    /// Kafka's bounds on a credential's iterations.
    pub const ITERATIONS_MIN: i32 = 4096;
    pub const ITERATIONS_MAX: i32 = 16384;

    pub fn parse(name: &str) -> Option<ScramMechanism> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The number AlterUserScramCredentials and DescribeUserScramCredentials use.
    pub fn type_id(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    pub fn from_type_id(id: i8) -> Option<ScramMechanism> {
        Self::ALL.into_iter().find(|m| m.type_id() == id)
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => Sha256::digest(data).to_vec(),
            ScramMechanism::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
            // HMAC takes a key of any length.
            let mut mac =
                <M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key length");
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        match self {
            ScramMechanism::Sha256 => run::<Hmac<Sha256>>(key, data),
            ScramMechanism::Sha512 => run::<Hmac<Sha512>>(key, data),
        }
    }

    /// ClientProof: ClientKey XOR HMAC(StoredKey, AuthMessage), from the salted password.
    fn client_proof(self, salted_password: &[u8], auth_message: &str) -> Vec<u8> {
        let client_key = self.hmac(salted_password, b"Client Key");
        let signature = self.hmac(&self.hash(&client_key), auth_message.as_bytes());
        client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect()
    }

    /// Hi(password, salt, iterations): PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramMechanism::Sha256 => {
                pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(password, salt, iterations).to_vec()
            }
            ScramMechanism::Sha512 => {
                pbkdf2::pbkdf2_hmac_array::<Sha512, 64>(password, salt, iterations).to_vec()
            }
        }
    }
}

/// What the broker keeps of a SCRAM user's password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScramCredential {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// The credential for a salted password (what AlterUserScramCredentials carries).
    pub fn from_salted(
        mechanism: ScramMechanism,
        salted_password: &[u8],
        salt: Vec<u8>,
        iterations: i32,
    ) -> ScramCredential {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            salt,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            iterations,
        }
    }
}

/// A fresh random salt or nonce of `len` bytes, from the operating system's source. It
/// fails only where the kernel has none; a guessable value is never used instead.
pub fn random_bytes(len: usize) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0u8; len];
    getrandom::getrandom(&mut bytes)
        .map_err(|error| std::io::Error::other(format!("no random bytes: {error}")))?;
    Ok(bytes)
}

/// A fresh nonce: letters and digits only, as Kafka's are.
fn nonce() -> std::io::Result<String> {
    Ok(random_bytes(24)?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A SCRAM exchange after the client's first message: what the server sent, to check
/// the client's proof against.
pub struct ScramExchange {
    mechanism: ScramMechanism,
    user: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
    /// The client's nonce, and the whole one (the client's and the server's).
    client_nonce: String,
    nonce: String,
    credential: ScramCredential,
}

impl ScramExchange {
    /// Reads the client's first message (`n,,n=user,r=nonce`) and answers the server's
    /// (`r=nonce+ours,s=salt,i=iterations`). `lookup` gives the user's credential.
    pub fn start(
        mechanism: ScramMechanism,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(ScramExchange, Vec<u8>), Refused> {
        let nonce = nonce().map_err(|error| {
            tracing::error!(%error, "SCRAM login refused");
            Refused::invalid_credentials(Mechanism::Scram(mechanism))
        })?;
        Self::start_with_nonce(mechanism, client_first, lookup, &nonce)
    }

    fn start_with_nonce(
        mechanism: ScramMechanism,
        client_first: &[u8],
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
        server_nonce: &str,
    ) -> Result<(ScramExchange, Vec<u8>), Refused> {
        let refused = || Refused::invalid_credentials(Mechanism::Scram(mechanism));
        let text = std::str::from_utf8(client_first).map_err(|_| refused())?;
        // gs2-header: a channel-binding flag (shoal binds no channel) and an authzid.
        let mut fields = text.splitn(3, ',');
        let (Some(flag), Some(authzid), Some(bare)) = (fields.next(), fields.next(), fields.next())
        else {
            return Err(refused());
        };
        if flag != "n" && flag != "y" {
            return Err(refused());
        }
        let authzid = match authzid {
            "" => None,
            a => Some(sasl_name(a.strip_prefix("a=").ok_or_else(refused)?).ok_or_else(refused)?),
        };
        let mut attributes = bare.split(',');
        let user = attributes
            .next()
            .and_then(|a| a.strip_prefix("n="))
            .and_then(sasl_name)
            .filter(|u| !u.is_empty())
            .ok_or_else(refused)?;
        let client_nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .filter(|n| !n.is_empty())
            .ok_or_else(refused)?;
        let credential = lookup(&user).ok_or_else(refused)?;
        if authzid.is_some_and(|a| a != user) {
            return Err(Refused::other_authorization_id());
        }
        if credential.iterations < ScramMechanism::ITERATIONS_MIN {
            return Err(refused());
        }
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        // "n,," or "n,a=user,": what the client's final message must bind.
        let gs2_header = text[..text.len() - bare.len()].to_string();
        let exchange = ScramExchange {
            mechanism,
            user,
            gs2_header,
            client_first_bare: bare.to_string(),
            server_first: server_first.clone(),
            client_nonce: client_nonce.to_string(),
            nonce,
            credential,
        };
        Ok((exchange, server_first.into_bytes()))
    }

    /// Checks the client's final message (`c=...,r=...,p=proof`): the user it proves
    /// and the server's final message (`v=signature`), or why not.
    pub fn finish(self, client_final: &[u8]) -> Result<(String, Vec<u8>), Refused> {
        let refused = || Refused::invalid_credentials(Mechanism::Scram(self.mechanism));
        let text = std::str::from_utf8(client_final).map_err(|_| refused())?;
        let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(refused)?;
        let proof = BASE64.decode(proof).map_err(|_| refused())?;
        let mut attributes = without_proof.split(',');
        let binding = attributes.next().and_then(|a| a.strip_prefix("c="));
        if binding != Some(BASE64.encode(&self.gs2_header).as_str()) {
            return Err(refused());
        }
        // librdkafka before 2.6.1 (Debian's kcat among its users) sends its own nonce and
        // then the whole of ours: Kafka 3.8.1-3.9 accept that form, Kafka 4 refuses it.
        // shoal accepts exactly it, which still carries the server's nonce whole.
        let nonce = attributes.next().and_then(|a| a.strip_prefix("r="));
        let doubled = nonce.and_then(|n| n.strip_prefix(&self.client_nonce));
        if nonce != Some(self.nonce.as_str()) && doubled != Some(self.nonce.as_str()) {
            return Err(refused());
        }
        let auth_message = format!(
            "{},{},{without_proof}",
            self.client_first_bare, self.server_first
        );
        let stored_key = &self.credential.stored_key;
        let client_signature = self.mechanism.hmac(stored_key, auth_message.as_bytes());
        if proof.len() != client_signature.len() {
            return Err(refused());
        }
        let client_key: Vec<u8> = proof
            .iter()
            .zip(&client_signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if !bool::from(self.mechanism.hash(&client_key).ct_eq(stored_key)) {
            return Err(refused());
        }
        let signature = self
            .mechanism
            .hmac(&self.credential.server_key, auth_message.as_bytes());
        Ok((
            self.user,
            format!("v={}", BASE64.encode(signature)).into_bytes(),
        ))
    }
}

/// The client's side of a SCRAM exchange (shoal's tools log in with it).
pub struct ScramClient {
    mechanism: ScramMechanism,
    client_first_bare: String,
    nonce: String,
}

impl ScramClient {
    /// The client's first message for `user`.
    pub fn first(mechanism: ScramMechanism, user: &str) -> std::io::Result<(ScramClient, Vec<u8>)> {
        let escaped = user.replace('=', "=3D").replace(',', "=2C");
        let nonce = nonce()?;
        let client_first_bare = format!("n={escaped},r={nonce}");
        let message = format!("n,,{client_first_bare}").into_bytes();
        let client = ScramClient {
            mechanism,
            client_first_bare,
            nonce,
        };
        Ok((client, message))
    }

    /// The client's final message, from the server's first one and the password, and
    /// the server's final message it must then receive.
    pub fn last(&self, server_first: &[u8], password: &str) -> Result<(Vec<u8>, Vec<u8>), String> {
        let text = std::str::from_utf8(server_first)
            .map_err(|_| "the server's first SCRAM message is not UTF-8")?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in text.split(',') {
            match attribute.split_at_checked(2) {
                Some(("r=", value)) => nonce = Some(value),
                Some(("s=", value)) => salt = BASE64.decode(value).ok(),
                Some(("i=", value)) => iterations = value.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(format!(
                "the server's first SCRAM message is malformed: {text}"
            ));
        };
        // Kafka's iterations are 4096 to 16384: more would hold the caller's core for
        // as long as the other side asks.
        let most = ScramMechanism::ITERATIONS_MAX as u32;
        if !nonce.starts_with(&self.nonce) || !(1..=most).contains(&iterations) {
            return Err(
                "the server's first SCRAM message does not continue this exchange".to_string(),
            );
        }
        let mechanism = self.mechanism;
        let salted = mechanism.salted_password(password.as_bytes(), &salt, iterations);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let proof = mechanism.client_proof(&salted, &auth_message);
        let server_key = mechanism.hmac(&salted, b"Server Key");
        let expected = mechanism.hmac(&server_key, auth_message.as_bytes());
        let last = format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes();
        Ok((last, format!("v={}", BASE64.encode(expected)).into_bytes()))
    }
}

/// A saslname with its `=2C` and `=3D` escapes undone; `None` for any other `=`.
fn sasl_name(escaped: &str) -> Option<String> {
    let mut name = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('=') {
        name.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3)?;
        name.push(match escape {
            "=2C" => ',',
            "=3D" => '=',
            _ => return None,
        });
        rest = &rest[at + 3..];
    }
    name.push_str(rest);
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example: user "user", password "pencil".
    fn rfc_credential() -> ScramCredential {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let mechanism = ScramMechanism::Sha256;
        let salted = mechanism.salted_password(b"pencil", &salt, 4096);
        ScramCredential::from_salted(mechanism, &salted, salt, 4096)
    }

    const CLIENT_FIRST: &[u8] = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

    fn start(client_first: &[u8]) -> Result<(ScramExchange, Vec<u8>), Refused> {
        ScramExchange::start_with_nonce(
            ScramMechanism::Sha256,
            client_first,
            |user| (user == "user").then(rfc_credential),
            SERVER_NONCE,
        )
    }

    #[test]
    fn the_rfc_7677_exchange_succeeds() {
        let (exchange, server_first) = start(CLIENT_FIRST).unwrap();
        assert_eq!(
            server_first,
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (user, server_final) = exchange.finish(CLIENT_FINAL).unwrap();
        assert_eq!(user, "user");
        assert_eq!(
            server_final,
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn a_wrong_proof_nonce_or_binding_is_refused() {
        let proof_flipped = String::from_utf8(CLIENT_FINAL.to_vec())
            .unwrap()
            .replace("p=dH", "p=dG");
        let nonce_changed = String::from_utf8(CLIENT_FINAL.to_vec())
            .unwrap()
            .replace("$k0", "$k1");
        let binding_changed = String::from_utf8(CLIENT_FINAL.to_vec())
            .unwrap()
            .replace("c=biws", "c=eSws");
        for bad in [
            proof_flipped.as_str(),
            &nonce_changed,
            &binding_changed,
            "",
            "p=",
            "c=biws,p=AAAA",
        ] {
            let (exchange, _) = start(CLIENT_FIRST).unwrap();
            let refused = exchange.finish(bad.as_bytes()).unwrap_err();
            assert!(
                refused
                    .0
                    .contains("invalid credentials with SASL mechanism SCRAM-SHA-256"),
                "{bad}"
            );
        }
    }

    #[test]
    fn old_librdkafkas_doubled_client_nonce_is_accepted_and_nothing_else() {
        let doubled =
            "c=biws,r=rOprNGfwEbeRWgbNEkqOrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let (exchange, _) = start(CLIENT_FIRST).unwrap();
        let proof = proof_for(&exchange, doubled);
        assert!(exchange
            .finish(format!("{doubled},p={proof}").as_bytes())
            .is_ok());
        for other in [
            "c=biws,r=xxrOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO",
        ] {
            let (exchange, _) = start(CLIENT_FIRST).unwrap();
            let proof = proof_for(&exchange, other);
            assert!(
                exchange
                    .finish(format!("{other},p={proof}").as_bytes())
                    .is_err(),
                "{other}"
            );
        }
    }

    /// The proof RFC 7677's user would send with `without_proof` as its final message.
    fn proof_for(exchange: &ScramExchange, without_proof: &str) -> String {
        let mechanism = ScramMechanism::Sha256;
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = mechanism.salted_password(b"pencil", &salt, 4096);
        let auth_message = format!(
            "{},{},{without_proof}",
            exchange.client_first_bare, exchange.server_first
        );
        let proof = mechanism.client_proof(&salted, &auth_message);
        BASE64.encode(proof)
    }

    #[test]
    fn unknown_users_and_malformed_first_messages_are_refused() {
        for bad in [
            &b"n,,n=bob,r=abc"[..],
            b"",
            b"n,,",
            b"p=tls-unique,,n=user,r=abc",
            b"n,,n=user",
            b"n,,n=user,r=",
            b"n,,n=us=41er,r=abc",
            b"n,,n=,r=abc",
            b"n,\xff,n=user,r=abc",
        ] {
            assert!(start(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let other = start(b"n,a=admin,n=user,r=abc").err().unwrap();
        assert!(other.0.contains("authorization id"));
        assert!(start(b"n,a=user,n=user,r=abc").is_ok());
    }

    #[test]
    fn escaped_names_are_undone() {
        assert_eq!(sasl_name("a=2Cb=3Dc").as_deref(), Some("a,b=c"));
        assert_eq!(sasl_name("a=2"), None);
        assert_eq!(sasl_name("a=41"), None);
    }

    #[test]
    fn sha_512_credentials_log_in_with_the_client_side() {
        let mechanism = ScramMechanism::Sha512;
        let salt = random_bytes(16).unwrap();
        let salted = mechanism.salted_password(b"secret", &salt, 4096);
        let credential = ScramCredential::from_salted(mechanism, &salted, salt, 4096);
        let (client, first) = ScramClient::first(mechanism, "al,i=ce").unwrap();
        let lookup = |user: &str| (user == "al,i=ce").then(|| credential.clone());
        let (exchange, server_first) = ScramExchange::start(mechanism, &first, lookup).unwrap();
        let (last, expected) = client.last(&server_first, "secret").unwrap();
        let (user, server_final) = exchange.finish(&last).unwrap();
        assert_eq!(user, "al,i=ce");
        assert_eq!(server_final, expected);
        // The wrong password fails at the server.
        let (client, first) = ScramClient::first(mechanism, "al,i=ce").unwrap();
        let (exchange, server_first) = ScramExchange::start(mechanism, &first, lookup).unwrap();
        let (last, _) = client.last(&server_first, "wrong").unwrap();
        assert!(exchange.finish(&last).is_err());
    }
}
