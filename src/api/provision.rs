//! `GET /provision/{secret}/...`: the desk phones' configuration files
//! (`crate::provision`), for phones, not API clients.
//!
//! Phones send no API token: the files are guarded by the
//! `[provisioning] secret` in the path and, when set, the networks of
//! `[provisioning] allow`. A wrong secret or address gets 403, a file
//! that does not exist 404, and every file served is logged with the
//! seat and the address that fetched it (the files hold SIP passwords).
//!
//! | path | file |
//! | --- | --- |
//! | `/provision/{secret}/{mac}.cfg` | Yealink, for the seat with that `mac` |
//! | `/provision/{secret}/cfg{mac}.xml` | Grandstream, for the seat with that `mac` |
//! | `/provision/{secret}/yealink/{ext}.cfg` | Yealink, seat `ext` |
//! | `/provision/{secret}/grandstream/{ext}.xml` | Grandstream, seat `ext` |

use super::{ApiError, AppState};
use crate::provision::{Provisioning, Vendor};
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;

/// What the provisioning routes serve, and to whom.
#[derive(Debug)]
pub struct ProvisionState {
    pub files: Provisioning,
    pub secret: String,
    /// Empty: any address.
    pub allow: Vec<ipnet::IpNet>,
}

impl ProvisionState {
    /// `None` without `[provisioning]`: nothing is served.
    pub fn from_config(
        c: &crate::config::Config,
        bound: Option<
            &std::collections::HashMap<(crate::sip::Side, crate::sip::Proto), SocketAddr>,
        >,
    ) -> Option<Arc<ProvisionState>> {
        let p = c.provisioning.as_ref()?;
        Some(Arc::new(ProvisionState {
            files: Provisioning::from_config(c, bound),
            secret: p.secret.clone(),
            allow: p.allow.clone(),
        }))
    }
}

/// `/provision/{secret}/{file}`: a file named by the phone's MAC.
pub(super) async fn by_mac(
    State(s): State<AppState>,
    Path((secret, file)): Path<(String, String)>,
    req: Request,
) -> Response {
    let p = match admit(&s, &secret, &req) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match p.files.by_mac_file(&file) {
        Some((vendor, seat)) => {
            let ext = seat.extension.clone();
            serve(&p, vendor, &ext, &file, &req)
        }
        None => not_found(&file),
    }
}

/// `/provision/{secret}/{vendor}/{file}`: a file named by extension.
pub(super) async fn by_extension(
    State(s): State<AppState>,
    Path((secret, vendor, file)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    let p = match admit(&s, &secret, &req) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let Some(vendor) = Vendor::from_name(&vendor) else {
        return not_found(&format!("{vendor}/{file}"));
    };
    let ext = match vendor {
        Vendor::Yealink => file.strip_suffix(".cfg"),
        Vendor::Grandstream => file.strip_suffix(".xml"),
    };
    match ext.filter(|e| p.files.seat(e).is_some()) {
        Some(ext) => serve(&p, vendor, ext, &file, &req),
        None => not_found(&format!("{}/{file}", vendor.name())),
    }
}

/// The provisioning state if the secret is right and the address allowed.
fn admit(s: &AppState, secret: &str, req: &Request) -> Result<Arc<ProvisionState>, ApiError> {
    let Some(p) = s.provision.clone() else {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            "provisioning is not configured: add a [provisioning] section (docs/config.md)".into(),
        ));
    };
    let remote = remote(req);
    if !same(secret.as_bytes(), p.secret.as_bytes()) {
        tracing::warn!(remote = ?remote, "403: provisioning file asked for with a wrong secret");
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "wrong provisioning secret: the phones' provisioning URL must carry [provisioning] secret".into(),
        ));
    }
    if !p.allow.is_empty() && !remote.is_some_and(|r| p.allow.iter().any(|n| n.contains(&r.ip()))) {
        tracing::warn!(remote = ?remote, "403: provisioning file asked for from an address not in [provisioning] allow");
        return Err(ApiError(
            StatusCode::FORBIDDEN,
            "this address may not fetch provisioning files: see [provisioning] allow".into(),
        ));
    }
    Ok(p)
}

fn serve(p: &ProvisionState, vendor: Vendor, ext: &str, file: &str, req: &Request) -> Response {
    let Some(text) = p.files.render(vendor, ext) else {
        return not_found(file);
    };
    tracing::info!(seat = ext, vendor = vendor.name(), file, remote = ?remote(req), "provisioning file served");
    (
        [
            (header::CONTENT_TYPE, vendor.content_type()),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

fn not_found(file: &str) -> Response {
    ApiError(
        StatusCode::NOT_FOUND,
        format!("no provisioning file {file}: no seat has that extension or mac"),
    )
    .into_response()
}

fn remote(req: &Request) -> Option<SocketAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

/// Constant-time equality.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
