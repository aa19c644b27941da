//! A listener's OAUTHBEARER keys: the JWKS file read at start-up, and again when it
//! changes (looked at, at most once a second, when a connection comes). Each shard
//! keeps its own copy in its accept loop, as with TLS certificates.

use std::sync::Arc;

use anyhow::Context;

use super::watch::FileWatch;
use crate::security::oauth::{OAuthSettings, Validator};

#[derive(Clone)]
pub struct Jwks {
    settings: OAuthSettings,
    validator: Arc<Validator>,
    file: FileWatch,
}

impl Jwks {
    /// Reads the JWKS file: an error names it (start-up stops on it).
    pub fn load(settings: &OAuthSettings) -> anyhow::Result<Jwks> {
        Ok(Jwks {
            validator: Arc::new(read(settings)?),
            file: FileWatch::new(vec![settings.jwks.clone()]),
            settings: settings.clone(),
        })
    }

    /// The validator for a new connection, after a reload if the file changed. A file
    /// that does not load is logged and the last good keys kept.
    pub fn validator(&mut self) -> Arc<Validator> {
        if self.file.changed() {
            match read(&self.settings) {
                Ok(validator) => {
                    self.validator = Arc::new(validator);
                    tracing::info!("OAUTHBEARER keys reloaded: the JWKS file changed");
                }
                Err(error) => tracing::warn!(
                    "OAUTHBEARER keys not reloaded, the last ones stay in use: {error:#}"
                ),
            }
        }
        Arc::clone(&self.validator)
    }
}

fn read(settings: &OAuthSettings) -> anyhow::Result<Validator> {
    let path = &settings.jwks;
    let key = "sasl.oauthbearer.jwks.endpoint.url";
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{key}: reading {}", path.display()))?;
    Validator::new(settings, &text)
        .map_err(|why| anyhow::anyhow!("{key} {}: {why}", path.display()))
}
