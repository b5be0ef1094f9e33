//! Configuration: the TOML file format, its loading and its validation.
//!
//! Owns the file structs (serde, with defaults), [`Config::load`] and
//! [`Config::validate`], which names the file, the key and the reason of
//! every refusal. The cores never see these structs: [`runtime`] turns a
//! validated config into the small typed configs they take; [`diff`] says
//! what a reload would change, or why it must wait for a restart.
//!
//! The reference for every key is `config/demo.toml` and `docs/config.md`.

pub mod diff;
mod file;
mod provisioning;
pub mod runtime;
mod validate;

pub use file::*;
pub use provisioning::{MAX_BLF_KEYS, PhoneTransport, ProvisioningConfig, normalize_mac};

use std::path::{Path, PathBuf};

/// A refused configuration: which file, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {key}: {reason}")]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the offending key, e.g. `queues[1].overflow_queue`;
    /// `(file)` when the file as a whole is at fault.
    pub key: String,
    pub reason: String,
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            key: "(file)".into(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::from_str_at(&text, path)
    }

    /// Parses and validates config text; `path` is used in error messages.
    pub fn from_str_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let err = |key: String, reason: String| ConfigError {
            file: path.to_path_buf(),
            key,
            reason,
        };
        let de = toml::Deserializer::parse(text)
            .map_err(|e| err("(syntax)".into(), e.to_string().trim().replace('\n', " ")))?;
        let config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let reason = e.inner().message().trim().to_string();
            let reason = match e.inner().span() {
                Some(span) => format!("{reason} (line {})", line_of(text, span.start)),
                None => reason,
            };
            err(if key == "." { "(file)".into() } else { key }, reason)
        })?;
        config
            .validate()
            .map_err(|(key, reason)| err(key, reason))?;
        Ok(config)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
