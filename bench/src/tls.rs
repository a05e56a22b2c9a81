//! The TLS + basic-auth listener of the TLS rows: a throw-away CA and a leaf certificate for
//! 127.0.0.1 made at run time with the `openssl` CLI (nothing committed, nothing reused between
//! runs), and the exporter-toolkit web config file both sides read.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use anyhow::{Context as _, bail};

use crate::pairs::Pair;

/// The basic-auth user the TLS rows log in as.
pub const USER: &str = "prometheus";

/// Files and secrets of one run's TLS listener.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Leaf certificate (PEM).
    pub cert: PathBuf,
    /// Leaf key (PKCS#8 PEM).
    pub key: PathBuf,
    /// The CA's certificate, for the client.
    pub ca_pem: Arc<Vec<u8>>,
    /// exporter-toolkit web config: TLS and basic auth.
    pub web_config: PathBuf,
    /// exporter-toolkit web config: TLS only (the redis row: redis_exporter 1.45 has no basic auth).
    pub web_config_tls_only: PathBuf,
    /// The basic-auth password (random per run; only ever in the web config's bcrypt hash).
    pub password: String,
}

fn openssl(dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .context("run openssl (the TLS rows need the openssl CLI)")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "openssl {} failed: {}",
            args.first().copied().unwrap_or(""),
            err.lines().next().unwrap_or("")
        );
    }
    Ok(())
}

impl TlsFiles {
    /// Makes a CA, a leaf for 127.0.0.1 signed by it (ECDSA P-256, as a CA of today issues), and
    /// the two web config files, in `dir`.
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut ca = vec!["req", "-x509", "-nodes", "-days", "2"];
        ca.extend(curve);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=mcp-bench CA",
        ]);
        openssl(dir, &ca)?;
        let mut csr = vec!["req", "-nodes"];
        csr.extend(curve);
        csr.extend([
            "-keyout",
            "key.pem",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(dir, &csr)?;
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName = IP:127.0.0.1\nbasicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n",
        )?;
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
                "-out",
                "cert.pem",
            ],
        )?;
        let ca_pem = std::fs::read(dir.join("ca.pem")).context("read the generated CA")?;
        let password = random_password();
        // Cost 10: what `htpasswd -B` and the exporter-toolkit docs use. Both sides cache a
        // verified pair, so the cost is paid once per process, not per scrape.
        let hash = bcrypt::hash(&password, 10).context("bcrypt the basic-auth password")?;
        let tls = format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            dir.join("cert.pem").display(),
            dir.join("key.pem").display()
        );
        let web_config = dir.join("web-config.yml");
        std::fs::write(
            &web_config,
            format!("{tls}basic_auth_users:\n  {USER}: '{hash}'\n"),
        )?;
        let web_config_tls_only = dir.join("web-config-tls-only.yml");
        std::fs::write(&web_config_tls_only, tls)?;
        Ok(TlsFiles {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            ca_pem: Arc::new(ca_pem),
            web_config,
            web_config_tls_only,
            password,
        })
    }

    /// Extra flags of one side for the TLS listener, and whether it checks basic auth.
    pub fn args(&self, pair: Pair, go: bool) -> (Vec<String>, bool) {
        match (pair, go) {
            // redis_exporter 1.45 serves TLS from its own flags and has no basic auth; ours gets
            // the same work: TLS only, through the exporter-toolkit file.
            (Pair::Redis, true) => (
                vec![
                    format!("--tls-server-cert-file={}", self.cert.display()),
                    format!("--tls-server-key-file={}", self.key.display()),
                ],
                false,
            ),
            (Pair::Redis, false) => (
                vec![format!(
                    "--web.config.file={}",
                    self.web_config_tls_only.display()
                )],
                false,
            ),
            _ => (
                vec![format!("--web.config.file={}", self.web_config.display())],
                true,
            ),
        }
    }
}

/// 24 random alphanumerics from the kernel's generator.
fn random_password() -> String {
    let mut seed = [0u8; 24];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = std::io::Read::read_exact(&mut f, &mut seed);
    }
    const ABC: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    seed.iter()
        .map(|b| char::from(ABC[usize::from(*b) % ABC.len()]))
        .collect()
}
