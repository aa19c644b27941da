//! A TLS listener's server side: its rustls config, loaded from the PEM files or inline
//! PEM of its settings and reloaded when those files change (`watch::Reloading`), and
//! the principal of a client certificate. Also the client side nodes dial each other
//! with, from the settings of the listener they meet on, reloaded alike.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use futures_rustls::TlsAcceptor;
use rustls::ServerConfig;

use super::watch::Reloading;
use crate::security::tls::{self, Keystore, Material, Pem, PrincipalRules, TlsSettings};

#[derive(Clone)]
pub struct Tls {
    config: Reloading<TlsSettings, ServerConfig>,
    rules: Arc<PrincipalRules>,
}

impl Tls {
    /// Loads `settings`' certificates and key: an error names the file or setting that
    /// is wrong (start-up stops on it).
    pub fn load(settings: &TlsSettings) -> anyhow::Result<Tls> {
        let rules = PrincipalRules::parse(&settings.principal_rules)
            .map_err(|why| anyhow::anyhow!("ssl.principal.mapping.rules: {why}"))?;
        Ok(Tls {
            config: Reloading::load(settings, files(settings), "TLS certificates", build)?,
            rules: Arc::new(rules),
        })
    }

    /// What a new connection's handshake needs.
    pub fn accept(&mut self) -> Accept {
        Accept {
            acceptor: TlsAcceptor::from(self.config.current()),
            rules: Arc::clone(&self.rules),
        }
    }
}

/// One connection's handshake: the acceptor, and the rules that map its client
/// certificate to a principal.
pub struct Accept {
    pub acceptor: TlsAcceptor,
    rules: Arc<PrincipalRules>,
}

impl Accept {
    /// The principal a client certificate proves (`User:` and its subject mapped by
    /// `ssl.principal.mapping.rules`); `Ok(None)` without a certificate; an error when
    /// no rule maps its subject (Kafka refuses the connection then).
    pub fn principal(&self, session: &rustls::ServerConnection) -> Result<Option<String>, String> {
        let Some(certificate) = session.peer_certificates().and_then(|c| c.first()) else {
            return Ok(None);
        };
        let subject = tls::subject_name(certificate)?;
        match self.rules.name(&subject) {
            Some(name) => Ok(Some(crate::security::user_principal(&name))),
            None => Err(format!(
                "no ssl.principal.mapping.rules rule applies to {subject}"
            )),
        }
    }
}

/// The files the settings name.
fn files(settings: &TlsSettings) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Keystore::File(path) = &settings.keystore {
        files.push(path.clone());
    }
    if let Some(Pem::File(path)) = &settings.truststore {
        files.push(path.clone());
    }
    files
}

/// The TLS a node dials the others with when the listener they meet on (the
/// inter-broker listener, the controller listener) speaks TLS, rebuilt when its files
/// change (`security::tls::node_client_config` says what it checks).
pub type Dial = Reloading<TlsSettings, rustls::ClientConfig>;

/// Loads `settings`' dialling side: an error names what is wrong (start-up stops on it).
pub fn dial(settings: &TlsSettings) -> anyhow::Result<Dial> {
    Reloading::load(
        settings,
        files(settings),
        "TLS certificates for dialling other nodes",
        build_dial,
    )
}

fn build_dial(settings: &TlsSettings) -> anyhow::Result<rustls::ClientConfig> {
    let (material, keystore) = material(settings)?;
    tls::node_client_config(settings, &material)
        .map_err(|why| anyhow::anyhow!("TLS to other nodes: {why} (keystore: {keystore})"))
}

fn build(settings: &TlsSettings) -> anyhow::Result<ServerConfig> {
    let (material, keystore) = material(settings)?;
    tls::server_config(settings, &material)
        .map_err(|why| anyhow::anyhow!("TLS listener: {why} (keystore: {keystore})"))
}

/// The PEM text `settings` name, and how to name the keystore in an error.
fn material(settings: &TlsSettings) -> anyhow::Result<(Material, String)> {
    let (chain, key, keystore) = match &settings.keystore {
        Keystore::File(path) => {
            let pem = read(path, "ssl.keystore.location")?;
            (
                pem.clone(),
                pem,
                format!("ssl.keystore.location {}", path.display()),
            )
        }
        Keystore::Inline { chain, key } => (
            chain.as_bytes().to_vec(),
            key.as_bytes().to_vec(),
            "ssl.keystore.certificate.chain and ssl.keystore.key".to_string(),
        ),
    };
    let trust = match &settings.truststore {
        None => None,
        Some(Pem::File(path)) => Some(read(path, "ssl.truststore.location")?),
        Some(Pem::Inline(pem)) => Some(pem.as_bytes().to_vec()),
    };
    Ok((Material { chain, key, trust }, keystore))
}

fn read(path: &Path, key: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{key}: reading {}", path.display()))
}
