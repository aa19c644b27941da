//! Who a client is: the SASL mechanisms (PLAIN, SCRAM-SHA-256/512) and what they check
//! against, a listener's security settings, and the credentials kept in the cluster's
//! metadata. The connection side (the SaslHandshake/SaslAuthenticate exchange) is
//! `server::sasl`.

pub mod jaas;
pub mod oauth;
pub mod plain;
pub mod scram;
pub mod tls;

use std::collections::BTreeMap;
use std::fmt;

pub use scram::{ScramCredential, ScramMechanism};

/// Kafka's security protocols, as `listener.security.protocol.map` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    SaslPlaintext,
    Ssl,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(name: &str) -> Option<SecurityProtocol> {
        Some(match name {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            _ => return None,
        })
    }

    /// Whether the listener speaks TLS (SSL, SASL_SSL).
    pub fn is_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn is_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// The SASL mechanisms Kafka knows, as clients and `sasl.enabled.mechanisms` name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mechanism {
    Gssapi,
    Plain,
    Scram(ScramMechanism),
    OAuthBearer,
}

impl Mechanism {
    pub fn parse(name: &str) -> Option<Mechanism> {
        Some(match name {
            "GSSAPI" => Mechanism::Gssapi,
            "PLAIN" => Mechanism::Plain,
            "OAUTHBEARER" => Mechanism::OAuthBearer,
            _ => Mechanism::Scram(ScramMechanism::parse(name)?),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Gssapi => "GSSAPI",
            Mechanism::Plain => "PLAIN",
            Mechanism::Scram(scram) => scram.name(),
            Mechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Whether shoal can authenticate with it.
    pub fn served(self) -> bool {
        !matches!(self, Mechanism::Gssapi)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a listener's clients prove who they are.
#[derive(Clone, PartialEq, Eq)]
pub struct ListenerSecurity {
    pub protocol: SecurityProtocol,
    /// The mechanisms a SASL listener offers, in the configured order.
    pub mechanisms: Vec<Mechanism>,
    /// PLAIN's users and passwords, from the listener's JAAS config (`user_NAME="..."`).
    pub plain_users: BTreeMap<String, String>,
    /// An SSL or SASL_SSL listener's TLS settings.
    pub tls: Option<tls::TlsSettings>,
    /// How OAUTHBEARER tokens are checked, when the listener enables it.
    pub oauth: Option<oauth::OAuthSettings>,
    /// `connections.max.reauth.ms` set for one mechanism of this listener
    /// (`listener.name.<listener>.<mechanism>.connections.max.reauth.ms`), which wins
    /// over the broker's.
    pub reauth_ms: Vec<(Mechanism, i64)>,
}

impl std::fmt::Debug for ListenerSecurity {
    /// PLAIN's users by name only, never their passwords.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerSecurity")
            .field("protocol", &self.protocol)
            .field("mechanisms", &self.mechanisms)
            .field("plain_users", &self.plain_users.keys().collect::<Vec<_>>())
            .field("tls", &self.tls)
            .field("oauth", &self.oauth)
            .field("reauth_ms", &self.reauth_ms)
            .finish()
    }
}

impl ListenerSecurity {
    /// A listener that asks nothing: every client is `User:ANONYMOUS`.
    pub const fn plaintext() -> ListenerSecurity {
        ListenerSecurity {
            protocol: SecurityProtocol::Plaintext,
            mechanisms: Vec::new(),
            plain_users: BTreeMap::new(),
            tls: None,
            oauth: None,
            reauth_ms: Vec::new(),
        }
    }
}

/// How a broker logs in to the other brokers' replication ports when the inter-broker
/// listener speaks SASL: `sasl.mechanism.inter.broker.protocol`, and the `username` and
/// `password` options of that listener's JAAS config for the mechanism; likewise to the
/// other nodes' controller listeners with `sasl.mechanism.controller.protocol`. The
/// password is never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct InterBrokerLogin {
    pub mechanism: Mechanism,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for InterBrokerLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterBrokerLogin")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A SASL controller listener's logins: what it asks of the nodes that connect (its
/// mechanisms and PLAIN users), and how this node logs in to the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumLogin {
    pub accept: ListenerSecurity,
    pub dial: InterBrokerLogin,
}

/// The principal of a user who logged in, as ACLs and `super.users` name it.
pub fn user_principal(user: &str) -> String {
    format!("User:{user}")
}

/// A failed login, with the message the client gets in SASL_AUTHENTICATION_FAILED.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Refused {
    /// Kafka's message for anything but the few failures it names: it says no more to a
    /// client that has not proven who it is.
    pub fn invalid_credentials(mechanism: Mechanism) -> Refused {
        Refused(format!(
            "Authentication failed during authentication due to invalid credentials with SASL mechanism {mechanism}"
        ))
    }

    pub fn other_authorization_id() -> Refused {
        Refused(
            "Authentication failed: Client requested an authorization id that is different from username"
                .to_string(),
        )
    }
}
