//! TLS for the agent API: a certificate (self-signed at start, or given as PEM files), its
//! SHA-256 fingerprint for agents to pin, and the rustls server configuration.
//!
//! A self-signed certificate made with a state dir is kept there (`tls/cert.pem`,
//! `tls/key.pem`, mode 0600), so a coordinator restarted on the same dir keeps the fingerprint
//! its agents already pinned.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use preflight_model::limits::{format_fingerprint, read_bounded, MAX_SECRET_FILE};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::CheckError;

/// A server certificate chain and its key, as DER.
#[derive(Debug)]
pub struct TlsIdentity {
    /// The chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The private key.
    pub key: PrivateKeyDer<'static>,
    /// Where it came from (for messages): `self-signed`, or the certificate file.
    pub origin: String,
}

/// SHA-256 fingerprint of a DER certificate, as `SHA256:<64 hex digits>`.
pub fn fingerprint_of(der: &[u8]) -> String {
    format_fingerprint(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

impl TlsIdentity {
    /// The leaf certificate's fingerprint (what agents pin with `--fingerprint`).
    pub fn fingerprint(&self) -> String {
        self.chain
            .first()
            .map(|c| fingerprint_of(c.as_ref()))
            .unwrap_or_default()
    }

    /// A fresh self-signed certificate naming `localhost`, `names` and `ips`.
    pub fn self_signed(names: &[String], ips: &[IpAddr]) -> Result<TlsIdentity, CheckError> {
        let (chain, key, _, _) = make_self_signed(names, ips)?;
        Ok(TlsIdentity {
            chain,
            key,
            origin: "self-signed".into(),
        })
    }

    /// Loads a PEM certificate chain and PEM private key (each at most 64 KiB, regular files).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsIdentity, CheckError> {
        let input = |e: preflight_model::limits::ReadError| CheckError::Input(e.to_string());
        let cert_pem = read_bounded(cert, MAX_SECRET_FILE).map_err(input)?;
        let key_pem = read_bounded(key, MAX_SECRET_FILE).map_err(input)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| CheckError::Input(format!("{}: {e}", cert.display())))?;
        if chain.is_empty() {
            return Err(CheckError::Input(format!(
                "{}: no PEM certificate found",
                cert.display()
            )));
        }
        let key = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| CheckError::Input(format!("{}: {e}", key.display())))?;
        Ok(TlsIdentity {
            chain,
            key,
            origin: cert.display().to_string(),
        })
    }

    /// The self-signed certificate kept in `dir/tls/`, made (and kept) when there is none.
    pub fn self_signed_in(
        dir: &Path,
        names: &[String],
        ips: &[IpAddr],
    ) -> Result<TlsIdentity, CheckError> {
        let tls = dir.join("tls");
        let (cert, key) = (tls.join("cert.pem"), tls.join("key.pem"));
        if cert.exists() && key.exists() {
            return TlsIdentity::from_pem_files(&cert, &key);
        }
        let (chain, k, cert_pem, key_pem) = make_self_signed(names, ips)?;
        let st = |p: &PathBuf, e: std::io::Error| {
            CheckError::State(format!("cannot write {}: {e}", p.display()))
        };
        std::fs::create_dir_all(&tls).map_err(|e| st(&tls, e))?;
        write_private(&key, key_pem.as_bytes()).map_err(|e| st(&key, e))?;
        crate::state::write_atomic(&cert, cert_pem.as_bytes()).map_err(|e| st(&cert, e))?;
        Ok(TlsIdentity {
            chain,
            key: k,
            origin: format!("self-signed, kept in {}", tls.display()),
        })
    }

    /// The rustls server configuration (HTTP/1.1 only, TLS 1.2 and 1.3, ring).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, CheckError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| CheckError::Input(format!("TLS: {e}")))?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| CheckError::Input(format!("TLS certificate {}: {e}", self.origin)))?;
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(cfg))
    }
}

type Made = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    String,
    String,
);

fn make_self_signed(names: &[String], ips: &[IpAddr]) -> Result<Made, CheckError> {
    let err = |e: rcgen::Error| CheckError::Input(format!("cannot make a TLS certificate: {e}"));
    let mut sans = vec!["localhost".to_string()];
    sans.extend(names.iter().filter(|n| !n.is_empty()).cloned());
    let mut params = rcgen::CertificateParams::new(sans).map_err(err)?;
    for ip in ips {
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress(*ip));
    }
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "preflight coordinator");
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let cert = params.self_signed(&key).map_err(err)?;
    let der = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| CheckError::Input(format!("cannot make a TLS key: {e}")))?;
    Ok((
        vec![cert.der().clone()],
        der,
        cert.pem(),
        key.serialize_pem(),
    ))
}

/// Writes a file readable by its owner only (temp file, fsync, rename).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let r = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_kept_in_the_state_dir_with_a_stable_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let a = TlsIdentity::self_signed_in(dir.path(), &["node".into()], &[]).unwrap();
        let b = TlsIdentity::self_signed_in(dir.path(), &[], &[]).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert!(a.fingerprint().starts_with("SHA256:"));
        assert_eq!(a.fingerprint().len(), 7 + 64);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("tls/key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        a.server_config().unwrap();
        let c = TlsIdentity::self_signed(&[], &[]).unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn pem_files_that_are_not_pem_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cert.pem");
        std::fs::write(&p, "hello").unwrap();
        let e = TlsIdentity::from_pem_files(&p, &p).unwrap_err().to_string();
        assert!(e.contains("cert.pem"), "{e}");
    }
}
