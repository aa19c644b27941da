//! TLS for SSL and SASL_SSL listeners, with rustls: a listener's settings as Kafka's
//! `ssl.*` keys give them, the rustls server config built from PEM text, and the
//! principal of a client certificate (its subject as Java's `X500Principal` prints it,
//! through `ssl.principal.mapping.rules`); and the tools' client config. Reading the
//! PEM files is the caller's.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use regex::Regex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WantsClientCert;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, ConfigBuilder, DigitallySignedStruct, RootCertStore,
    ServerConfig, SignatureScheme, SupportedProtocolVersion, WantsVerifier,
};

/// Where PEM text comes from: a file (`ssl.keystore.location`), or the setting itself
/// (`ssl.keystore.certificate.chain`, `ssl.keystore.key`, `ssl.truststore.certificates`).
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    File(PathBuf),
    Inline(String),
}

impl fmt::Debug for Pem {
    /// Inline PEM may be a private key: never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(path) => write!(f, "File({})", path.display()),
            Pem::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// The server's certificate chain and private key: one PEM file holding both (Kafka's
/// `ssl.keystore.location` with `ssl.keystore.type=PEM`), or each inline.
#[derive(Clone, PartialEq, Eq)]
pub enum Keystore {
    File(PathBuf),
    Inline { chain: String, key: String },
}

impl fmt::Debug for Keystore {
    /// The inline key is never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Keystore::File(path) => write!(f, "File({})", path.display()),
            Keystore::Inline { .. } => f.write_str("Inline(..)"),
        }
    }
}

/// `ssl.key.password`: the password of an encrypted private key. Never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyPassword(pub String);

impl fmt::Debug for KeyPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyPassword(..)")
    }
}

/// `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

impl ClientAuth {
    /// Kafka's values, in any case.
    pub fn parse(value: &str) -> Option<ClientAuth> {
        Some(match value.to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            _ => return None,
        })
    }
}

/// Whether `ssl.endpoint.identification.algorithm`'s value asks for the host dialled to
/// be checked: `https` does (in any case, as Java compares it), empty does not; `None`
/// for a value Kafka does not know.
pub fn checks_host(value: &str) -> Option<bool> {
    match value {
        "" => Some(false),
        _ if value.eq_ignore_ascii_case("https") => Some(true),
        _ => None,
    }
}

/// The TLS protocol versions rustls speaks, by Kafka's (JSSE's) names.
pub const VERSIONS: [&str; 2] = ["TLSv1.2", "TLSv1.3"];

/// A TLS listener's settings, checked (`config::ssl` builds them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub keystore: Keystore,
    /// The keystore's private key is encrypted with this (PKCS#8, PBES2).
    pub key_password: Option<KeyPassword>,
    /// The CAs client certificates must chain to; needed when clients may present one.
    pub truststore: Option<Pem>,
    pub client_auth: ClientAuth,
    /// Among `VERSIONS`, at least one.
    pub versions: Vec<String>,
    /// IANA names (`TLS_AES_128_GCM_SHA256`); empty: rustls's defaults.
    pub cipher_suites: Vec<String>,
    /// `ssl.principal.mapping.rules`, as given (it parses).
    pub principal_rules: String,
    /// `ssl.endpoint.identification.algorithm` is `https` (Kafka's default): another
    /// node this one dials must have a certificate naming the host dialled. Empty: any
    /// certificate chaining to the truststore will do.
    pub check_host: bool,
}

#[cfg(test)]
impl TlsSettings {
    /// TLS 1.3, no client certificates, the keystore inline and empty (the tests give
    /// their PEM as `Material`).
    pub fn plain_tls13() -> TlsSettings {
        TlsSettings {
            keystore: Keystore::Inline {
                chain: String::new(),
                key: String::new(),
            },
            key_password: None,
            truststore: None,
            client_auth: ClientAuth::None,
            versions: vec!["TLSv1.3".to_string()],
            cipher_suites: Vec::new(),
            principal_rules: "DEFAULT".to_string(),
            check_host: true,
        }
    }
}

/// PEM text read for a listener: the chain and key, and the trusted CAs.
pub struct Material {
    pub chain: Vec<u8>,
    pub key: Vec<u8>,
    pub trust: Option<Vec<u8>>,
}

/// The rustls server config for `settings` from `material`; the error says which part
/// is wrong (never its content).
pub fn server_config(settings: &TlsSettings, material: &Material) -> Result<ServerConfig, String> {
    let chain = certificates(&material.chain, "the certificate chain")?;
    let key = private_key(&material.key, settings.key_password.as_ref())?;
    let provider = Arc::new(provider(&settings.cipher_suites)?);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(settings))
        .map_err(|e| format!("ssl.enabled.protocols and ssl.cipher.suites: {e}"))?;
    let builder = match (settings.client_auth, &material.trust) {
        (ClientAuth::None, _) => builder.with_no_client_auth(),
        (_, None) => {
            return Err(
                "ssl.client.auth asks for client certificates: set ssl.truststore.location or \
                 ssl.truststore.certificates to the CAs they chain to"
                    .to_string(),
            )
        }
        (auth, Some(trust)) => {
            let roots = roots(trust, "the truststore")?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match auth {
                ClientAuth::Requested => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("the truststore: {e}"))?,
            )
        }
    };
    builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("the certificate chain and key: {e}"))
}

pub(crate) fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what}: {e}"))?;
    if certificates.is_empty() {
        return Err(format!("{what} holds no certificate in PEM form"));
    }
    Ok(certificates)
}

/// A client's rustls config: the broker's certificate must chain to `ca` (PEM; the
/// system's CAs without it) and, with `check_host`, name the host dialled; `identity`
/// (a PEM chain, its key, and the key's password if it is encrypted) is shown when the
/// broker asks for one.
pub fn client_config(
    ca: Option<&[u8]>,
    check_host: bool,
    identity: Option<(&[u8], &[u8], Option<&KeyPassword>)>,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(provider(&[])?);
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let builder = trusting(builder, provider, ca, check_host)?;
    match identity {
        None => Ok(builder.with_no_client_auth()),
        Some((chain, key, password)) => {
            let chain = certificates(chain, "the client certificate")?;
            let key = private_key(key, password)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key: {e}"))
        }
    }
}

/// The rustls client config a node dials another with, from the settings of the
/// listener they meet on: its protocol versions and cipher suites; the other node's
/// certificate must chain to the truststore (the system's CAs when none is set, as
/// Kafka falls back to the JVM's) and, with `check_host`, name the host dialled; the
/// keystore is this node's certificate, for a listener that asks for one.
pub fn node_client_config(
    settings: &TlsSettings,
    material: &Material,
) -> Result<ClientConfig, String> {
    let provider = Arc::new(provider(&settings.cipher_suites)?);
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(settings))
        .map_err(|e| format!("ssl.enabled.protocols and ssl.cipher.suites: {e}"))?;
    let trust = material.trust.as_deref();
    let builder = trusting(builder, provider, trust, settings.check_host)?;
    let chain = certificates(&material.chain, "the certificate chain")?;
    let key = private_key(&material.key, settings.key_password.as_ref())?;
    builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("the certificate chain and key: {e}"))
}

/// A client that trusts a server whose certificate chains to `ca` (PEM), else to the
/// system's CAs, and, with `check_host`, names the host dialled.
fn trusting(
    builder: ConfigBuilder<ClientConfig, WantsVerifier>,
    provider: Arc<CryptoProvider>,
    ca: Option<&[u8]>,
    check_host: bool,
) -> Result<ConfigBuilder<ClientConfig, WantsClientCert>, String> {
    let roots = match ca {
        Some(pem) => roots(pem, "the truststore")?,
        None => system_roots()?,
    };
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("the truststore: {e}"))?;
    Ok(match check_host {
        true => builder.with_webpki_verifier(verifier),
        false => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyHost(verifier))),
    })
}

/// The protocol versions `settings` enable.
fn versions(settings: &TlsSettings) -> Vec<&'static SupportedProtocolVersion> {
    settings
        .versions
        .iter()
        .filter_map(|v| match v.as_str() {
            "TLSv1.2" => Some(&rustls::version::TLS12),
            "TLSv1.3" => Some(&rustls::version::TLS13),
            _ => None,
        })
        .collect()
}

/// The CA certificates in `pem`.
fn roots(pem: &[u8], what: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates(pem, what)? {
        roots
            .add(certificate)
            .map_err(|e| format!("a certificate of {what}: {e}"))?;
    }
    Ok(roots)
}

/// The system's CA certificates (`SSL_CERT_FILE` or `SSL_CERT_DIR` if set).
fn system_roots() -> Result<RootCertStore, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(format!(
            "no truststore is set (ssl.truststore.location or ssl.truststore.certificates) \
             and the system has no CA certificates to fall back on ({})",
            errors.join("; ")
        ));
    }
    Ok(roots)
}

/// Checks a server's certificate as webpki does, but for the name in it
/// (`ssl.endpoint.identification.algorithm` empty).
#[derive(Debug)]
struct AnyHost(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHost {
    fn verify_server_cert(
        &self,
        certificate: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name last, once the chain is known good.
        match self
            .0
            .verify_server_cert(certificate, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            checked => checked,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

const ENCRYPTED_BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
const ENCRYPTED_END: &str = "-----END ENCRYPTED PRIVATE KEY-----";

/// The private key in `pem`; an encrypted PKCS#8 key is decrypted with `password`
/// (Kafka's `ssl.key.password`), which must be given for one and only for one. Errors
/// never hold the key or the password.
fn private_key(
    pem: &[u8],
    password: Option<&KeyPassword>,
) -> Result<PrivateKeyDer<'static>, String> {
    let text = String::from_utf8_lossy(pem);
    let Some(begin) = text.find(ENCRYPTED_BEGIN) else {
        if password.is_some() {
            return Err("ssl.key.password is set, but the private key is not encrypted".into());
        }
        return PrivateKeyDer::from_pem_slice(pem)
            .map_err(|e| format!("no private key in PEM form ({e})"));
    };
    let Some(password) = password else {
        return Err("the private key is encrypted: set ssl.key.password".into());
    };
    let end = text[begin..]
        .find(ENCRYPTED_END)
        .map(|at| begin + at + ENCRYPTED_END.len())
        .ok_or("the encrypted private key's PEM block has no end")?;
    let (_, document) = pkcs8::der::Document::from_pem(&text[begin..end])
        .map_err(|e| format!("the encrypted private key is not PEM-encoded DER ({e})"))?;
    let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(document.as_bytes())
        .map_err(|e| format!("the encrypted private key does not parse ({e})"))?;
    let decrypted = info.decrypt(password.0.as_bytes()).map_err(|_| {
        "the private key does not decrypt with ssl.key.password (a wrong password, or a \
         scheme other than PKCS#5 v2 with AES)"
            .to_string()
    })?;
    Ok(PrivateKeyDer::Pkcs8(decrypted.as_bytes().to_vec().into()))
}

/// rustls's ring provider, its suites narrowed to `names` (IANA names) when any are given.
pub(crate) fn provider(names: &[String]) -> Result<rustls::crypto::CryptoProvider, String> {
    // Deprecated in favour of aws-lc-rs for its post-quantum key exchange, which the
    // Kafka clients' TLS libraries do not offer; ring builds without cmake.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    if names.is_empty() {
        return Ok(provider);
    }
    for name in names {
        if !provider.cipher_suites.iter().any(|s| &iana_name(s) == name) {
            let known: Vec<String> = provider.cipher_suites.iter().map(iana_name).collect();
            return Err(format!(
                "ssl.cipher.suites names {name}, which shoal does not offer (it offers {})",
                known.join(", ")
            ));
        }
    }
    provider
        .cipher_suites
        .retain(|suite| names.contains(&iana_name(suite)));
    Ok(provider)
}

/// A suite's IANA name, as Kafka's `ssl.cipher.suites` lists them.
fn iana_name(suite: &rustls::SupportedCipherSuite) -> String {
    let name = format!("{:?}", suite.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// The subject of a DER certificate as Java's `X500Principal.getName()` writes it
/// (RFC 2253: the most specific name first, `CN=alice,OU=eng,O=acme,C=US`).
pub fn subject_name(der: &[u8]) -> Result<String, String> {
    use x509_parser::prelude::FromDer;
    let (_, certificate) = x509_parser::certificate::X509Certificate::from_der(der)
        .map_err(|e| format!("the client certificate does not parse: {e}"))?;
    let names: Vec<String> = certificate
        .subject()
        .iter_rdn()
        .map(|rdn| {
            let parts: Vec<String> = rdn.iter().map(attribute).collect();
            parts.join("+")
        })
        .collect();
    Ok(names.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// One `type=value` of a name: a keyword RFC 2253 knows with its string, else the
/// type's OID with the value's DER in hex, as Java writes them.
fn attribute(attribute: &x509_parser::x509::AttributeTypeAndValue) -> String {
    let oid = attribute.attr_type().to_id_string();
    let keyword = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.9" => Some("STREET"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    match (keyword, attribute.as_str()) {
        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
        _ => {
            let value = attribute.attr_value();
            let content = value.as_bytes();
            let mut der = vec![value.tag().0 as u8];
            match u8::try_from(content.len()) {
                Ok(short) if short < 0x80 => der.push(short),
                _ => {
                    let length = (content.len() as u32).to_be_bytes();
                    let skip = length.iter().take_while(|b| **b == 0).count();
                    der.push(0x80 | (4 - skip) as u8);
                    der.extend_from_slice(&length[skip..]);
                }
            }
            der.extend_from_slice(content);
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("{oid}=#{hex}")
        }
    }
}

/// RFC 2253's escapes as Java writes them: `,=+<>#;"\` wherever they are, and every
/// leading and trailing space.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    let leading = value.chars().take_while(|c| *c == ' ').count();
    let trailing_from =
        value.chars().count() - value.chars().rev().take_while(|c| *c == ' ').count();
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '=' | '+' | '<' | '>' | '#' | ';' | '"' | '\\')
            || (c == ' ' && (i < leading || i >= trailing_from));
        if special {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `ssl.principal.mapping.rules`: `DEFAULT` (the whole name) and
/// `RULE:pattern/replacement/[LU]` rules, comma-separated, tried in order; the first
/// whose pattern matches the whole name gives the principal's name. Patterns are
/// Rust's `regex` syntax, which shares Java's for what mapping rules use (no
/// look-around, no back-references in patterns).
#[derive(Debug)]
pub struct PrincipalRules {
    rules: Vec<Rule>,
}

#[derive(Debug)]
enum Rule {
    Default,
    Map {
        /// The pattern, anchored: a rule applies only when it matches the whole name.
        whole: Regex,
        pattern: Regex,
        /// In `regex`'s replacement syntax.
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl PrincipalRules {
    pub fn parse(rules: &str) -> Result<PrincipalRules, String> {
        let mut parsed = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            let (rule, after) = if let Some(after) = rest.strip_prefix("DEFAULT") {
                if !after.trim_start().is_empty() && !after.trim_start().starts_with(',') {
                    return Err(format!("invalid rule `{rest}`: text after DEFAULT"));
                }
                (Rule::Default, after)
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern, after) = until_slash(after)
                    .ok_or_else(|| format!("invalid rule `{rest}`: no / after its pattern"))?;
                let (replacement, after) = until_slash(after)
                    .ok_or_else(|| format!("invalid rule `{rest}`: no / after its replacement"))?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Case::Lower, &after[1..]),
                    Some('U') => (Case::Upper, &after[1..]),
                    _ => (Case::Keep, after),
                };
                let compile = |source: &str| {
                    Regex::new(source).map_err(|e| format!("invalid rule pattern `{pattern}`: {e}"))
                };
                let pattern_regex = compile(pattern)?;
                let rule = Rule::Map {
                    whole: compile(&format!("^(?:{pattern})$"))?,
                    replacement: replacement_of(replacement, pattern_regex.captures_len() - 1),
                    pattern: pattern_regex,
                    case,
                };
                (rule, after)
            } else {
                return Err(format!(
                    "invalid rule `{rest}`: rules are DEFAULT or RULE:pattern/replacement/[LU]"
                ));
            };
            parsed.push(rule);
            // Anything up to the next comma belongs to this rule and is ignored, as Kafka
            // ignores it.
            rest = match after.split_once(',') {
                Some((_, next)) => next.trim_start(),
                None => "",
            };
        }
        Ok(PrincipalRules { rules: parsed })
    }

    /// The principal's name for a subject, from the first rule that applies; `None`
    /// when none does (Kafka then refuses the connection).
    pub fn name(&self, subject: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(subject.to_string()),
            Rule::Map {
                whole,
                pattern,
                replacement,
                case,
            } => {
                if !whole.is_match(subject) {
                    return None;
                }
                let name = pattern.replace_all(subject, replacement.as_str());
                Some(match case {
                    Case::Keep => name.into_owned(),
                    Case::Lower => name.to_lowercase(),
                    Case::Upper => name.to_uppercase(),
                })
            }
        })
    }
}

/// The text before the first `/` not escaped by a backslash, and what follows it.
fn until_slash(text: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '/' if !escaped => return Some((&text[..i], &text[i + 1..])),
            _ => escaped = false,
        }
    }
    None
}

/// A Java replacement (`$1` group references, `\x` a literal x) in `regex`'s syntax.
/// A reference past the pattern's `groups` loses digits from its end while it names
/// 10 or more, and is literal text if it still names no group (Kafka's reading).
fn replacement_of(java: &str, groups: usize) -> String {
    let mut out = String::new();
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(literal) = chars.next() {
                    push_literal(&mut out, literal);
                }
            }
            '$' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let mut used = digits.len();
                let mut index: usize = digits.parse().unwrap_or(usize::MAX);
                while index > groups && index >= 10 && used > 1 {
                    index /= 10;
                    used -= 1;
                }
                if digits.is_empty() || index > groups {
                    out.push_str("$$");
                    out.push_str(&digits);
                } else {
                    out.push_str(&format!("${{{index}}}"));
                    out.push_str(&digits[used..]);
                }
            }
            other => push_literal(&mut out, other),
        }
    }
    out
}

fn push_literal(out: &mut String, c: char) {
    if c == '$' {
        out.push_str("$$");
    } else {
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, subject: &str) -> Option<String> {
        PrincipalRules::parse(rules).unwrap().name(subject)
    }

    #[test]
    fn kafka_s_mapping_rules_map_names_as_its_documentation_shows() {
        let subject = "CN=kafka-client,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown";
        assert_eq!(map("DEFAULT", subject).as_deref(), Some(subject));
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,DEFAULT";
        assert_eq!(map(rules, subject).as_deref(), Some("kafka-client"));
        assert_eq!(
            map(rules, "CN=Admin,OU=Ops,O=A,L=B,ST=C,C=D").as_deref(),
            Some("admin@ops")
        );
        assert_eq!(map(rules, "CN=x").as_deref(), Some("CN=x"), "DEFAULT last");
        assert_eq!(
            map("RULE:^CN=(.*)$/$1/U", "CN=alice").as_deref(),
            Some("ALICE")
        );
        // No rule applies: no principal (the connection is refused).
        assert_eq!(map("RULE:^CN=(.*)$/$1/", "O=acme"), None);
        // Spaces around rules, an escaped slash in a pattern, a literal $ and a
        // reference past the groups.
        assert_eq!(
            map(" RULE:^CN=(.*)\\/x$/$1\\$$2/ , DEFAULT ", "CN=a/x").as_deref(),
            Some("a$$2")
        );
        assert_eq!(
            map("RULE:^CN=(.*)$/$10/", "CN=a").as_deref(),
            Some("a0"),
            "$10 with one group is $1 then 0"
        );
    }

    #[test]
    fn malformed_rules_are_refused() {
        for rules in [
            "RULE:^CN=(.*)$",
            "RULE:^CN=(.*)$/$1",
            "DEFAULTS",
            "NOPE",
            "RULE:(/x/",
        ] {
            assert!(PrincipalRules::parse(rules).is_err(), "{rules}");
        }
        assert!(PrincipalRules::parse("").unwrap().name("CN=a").is_none());
    }

    #[test]
    fn rfc_2253_escapes_special_characters() {
        assert_eq!(escape("a,b+c=d"), "a\\,b\\+c\\=d");
        assert_eq!(escape("#x#  "), "\\#x\\#\\ \\ ");
        assert_eq!(escape("  a b "), "\\ \\ a b\\ ");
        assert_eq!(escape(" "), "\\ ");
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn client_auth_takes_kafka_s_values_in_any_case() {
        assert_eq!(ClientAuth::parse("REQUIRED"), Some(ClientAuth::Required));
        assert_eq!(ClientAuth::parse("requested"), Some(ClientAuth::Requested));
        assert_eq!(ClientAuth::parse("none"), Some(ClientAuth::None));
        assert_eq!(ClientAuth::parse("yes"), None);
    }

    #[test]
    fn an_encrypted_key_needs_its_password_and_only_it_does() {
        let password = KeyPassword("pw".to_string());
        let encrypted = format!("{ENCRYPTED_BEGIN}\nMAA=\n{ENCRYPTED_END}\n");
        let error = |pem: &str, password| private_key(pem.as_bytes(), password).unwrap_err();
        assert_eq!(
            error(&encrypted, None),
            "the private key is encrypted: set ssl.key.password"
        );
        assert!(error(&encrypted, Some(&password)).contains("does not parse"));
        assert!(error(ENCRYPTED_BEGIN, Some(&password)).contains("has no end"));
        let plain = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            error(plain, Some(&password)),
            "ssl.key.password is set, but the private key is not encrypted"
        );
        assert_eq!(format!("{password:?}"), "KeyPassword(..)");
    }

    #[test]
    fn pem_that_is_not_a_certificate_or_key_is_refused_by_name() {
        let settings = TlsSettings::plain_tls13();
        let material = Material {
            chain: b"not pem".to_vec(),
            key: Vec::new(),
            trust: None,
        };
        let error = server_config(&settings, &material).unwrap_err();
        assert!(
            error.contains("certificate chain holds no certificate"),
            "{error}"
        );
        let encrypted = Material {
            chain: Vec::new(),
            key: b"-----BEGIN ENCRYPTED PRIVATE KEY-----".to_vec(),
            trust: None,
        };
        assert!(server_config(&settings, &encrypted).is_err());
        assert!(format!("{:?}", settings.keystore).contains(".."));
        assert!(provider(&["TLS_NOPE".to_string()]).is_err());
        let named = provider(&["TLS_AES_128_GCM_SHA256".to_string()]).unwrap();
        assert_eq!(named.cipher_suites.len(), 1);
    }
}
