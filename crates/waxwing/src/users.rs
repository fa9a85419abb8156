//! Account administration on the database directly (`waxwing user …`), so it
//! works whether or not the server is running.

use waxwing_jid::Jid;
use waxwing_sasl::ScramCredentials;
use waxwing_store::{Store, StoreError};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("{0}: not a valid account JID (expected user@domain)")]
    InvalidJid(String),
    #[error("{0} is not a host in the configuration")]
    UnknownHost(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("the password is empty or cannot be prepared (RFC 4013 SASLprep)")]
    BadPassword,
    #[error("database: {0}")]
    Store(StoreError),
}

/// Parses `user@domain`, or a bare `user` on a single-host configuration.
pub fn account(config: &Config, input: &str) -> Result<Jid, UserError> {
    let domains = config.domains();
    let text =
        if !input.contains('@') && domains.len() == 1 { format!("{input}@{}", domains[0]) } else { input.to_string() };
    let jid = Jid::parse(&text).map_err(|_| UserError::InvalidJid(input.to_string()))?;
    if jid.node().is_none() || !jid.is_bare() {
        return Err(UserError::InvalidJid(input.to_string()));
    }
    if !domains.iter().any(|d| d == jid.domain()) {
        return Err(UserError::UnknownHost(jid.domain().to_string()));
    }
    Ok(jid)
}

/// SCRAM keys for every hash we offer; the password itself is never stored.
pub fn credentials(config: &Config, password: &str) -> Result<Vec<ScramCredentials>, UserError> {
    if password.is_empty() {
        return Err(UserError::BadPassword);
    }
    ScramCredentials::for_every_hash(password, config.auth.scram_iterations).map_err(|_| UserError::BadPassword)
}

pub async fn add(store: &Store, config: &Config, jid: &Jid, password: &str) -> Result<(), UserError> {
    let creds = credentials(config, password)?;
    let node = jid.node().expect("account JIDs have a localpart");
    store.accounts().create(jid.domain(), node, &creds).await.map_err(|e| match e {
        StoreError::AlreadyExists => UserError::Exists(jid.to_string()),
        e => UserError::Store(e),
    })
}

pub async fn set_password(store: &Store, config: &Config, jid: &Jid, password: &str) -> Result<(), UserError> {
    let creds = credentials(config, password)?;
    let node = jid.node().expect("account JIDs have a localpart");
    store.accounts().set_credentials(jid.domain(), node, &creds).await.map_err(|e| match e {
        StoreError::NotFound => UserError::NotFound(jid.to_string()),
        e => UserError::Store(e),
    })
}

pub async fn remove(store: &Store, jid: &Jid) -> Result<(), UserError> {
    let node = jid.node().expect("account JIDs have a localpart");
    match store.accounts().remove(jid.domain(), node).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(UserError::NotFound(jid.to_string())),
        Err(e) => Err(UserError::Store(e)),
    }
}
