//! A listener's OAUTHBEARER keys: the JWKS file read at start-up, and again when it
//! changes (`watch::Reloading`).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use anyhow::Context;

use super::watch::Reloading;
use crate::security::oauth::{OAuthSettings, Validator};

#[derive(Clone)]
pub struct Jwks(Reloading<OAuthSettings, Validator>);

/// A shard's keys, shared by its connections: a login, and each login again, takes
/// the keys current then.
pub type SharedJwks = Rc<RefCell<Jwks>>;

impl Jwks {
    /// Reads the JWKS file: an error names it (start-up stops on it).
    pub fn load(settings: &OAuthSettings) -> anyhow::Result<Jwks> {
        let file = vec![settings.jwks.clone()];
        Reloading::load(settings, file, "OAUTHBEARER keys", read).map(Jwks)
    }

    /// The validator for a new connection.
    pub fn validator(&mut self) -> Arc<Validator> {
        self.0.current()
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
