//! Throwaway certificates for TLS tests, made with the `openssl` CLI (EC P-256, valid two days).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The files of one CA and one server certificate it signed.
#[derive(Debug, Clone)]
pub struct ServerCert {
    /// The CA certificate (PEM), for `sslrootcert` / a client's roots.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM, unencrypted).
    pub key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl on PATH (apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `<prefix>ca.crt`, `<prefix>server.crt` and `<prefix>server.key` in `dir`: a fresh CA
/// and a server certificate signed by it for the subject alternative names `sans` (e.g.
/// `["DNS:localhost", "IP:127.0.0.1"]`). Two calls with different prefixes give two unrelated
/// CAs (for "wrong CA" cases).
pub fn server_cert(dir: &Path, prefix: &str, sans: &[&str]) -> ServerCert {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca_key, ca) = (format!("{prefix}ca.key"), format!("{prefix}ca.crt"));
    let (key, csr, cert) = (
        format!("{prefix}server.key"),
        format!("{prefix}server.csr"),
        format!("{prefix}server.crt"),
    );
    let ext = format!("{prefix}ext.cnf");
    let mut args = vec!["req", "-x509", "-days", "2", "-subj", "/CN=test-ca"];
    args.extend(ec);
    args.extend(["-keyout", &ca_key, "-out", &ca]);
    openssl(dir, &args);
    let mut args = vec!["req", "-new", "-subj", "/CN=localhost"];
    args.extend(ec);
    args.extend(["-keyout", &key, "-out", &csr]);
    openssl(dir, &args);
    std::fs::write(
        dir.join(&ext),
        format!(
            "subjectAltName={}\nbasicConstraints=critical,CA:FALSE\n",
            sans.join(",")
        ),
    )
    .expect("write ext.cnf");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    );
    ServerCert {
        ca: dir.join(ca),
        cert: dir.join(cert),
        key: dir.join(key),
    }
}
