//! A real SMTP peer for the email tests: aiosmtpd (the SMTP server of Python's asyncio world,
//! from PyPI; `scripts/test` installs it in `target/test-venv`) on a free port of 127.0.0.1,
//! storing what it receives in a Maildir that the test reads. Stopped when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct SmtpPeer {
    child: Child,
    pub port: u16,
    maildir: PathBuf,
}

/// The Python that has aiosmtpd: `CAISSE_TEST_PYTHON`, else `target/test-venv` (made by
/// `scripts/test`), else the machine's `python3`.
fn python() -> String {
    if let Ok(p) = std::env::var("CAISSE_TEST_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python");
    if std::path::Path::new(venv).exists() {
        return venv.to_string();
    }
    "python3".to_string()
}

impl SmtpPeer {
    pub async fn start() -> SmtpPeer {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let maildir = std::env::temp_dir()
            .join("caisse-tests")
            .join(format!("maildir-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&maildir);
        std::fs::create_dir_all(maildir.parent().unwrap()).unwrap();
        let python = python();
        let child = Command::new(&python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start the SMTP peer with {python} -m aiosmtpd ({e}): run scripts/test, which installs it")
            });
        let mut peer = SmtpPeer {
            child,
            port,
            maildir,
        };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return peer;
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                panic!(
                    "the SMTP peer ({python} -m aiosmtpd) exited with {status}: is aiosmtpd \
                     installed? scripts/test installs it"
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the SMTP peer did not listen on 127.0.0.1:{port} within 5 s");
    }

    /// The URL caisse sends through (plain text on loopback).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message received so far, as raw text (headers and body).
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Waits up to 5 s until `n` messages have arrived, and answers them.
    pub async fn wait_for(&self, n: usize) -> Vec<String> {
        for _ in 0..100 {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "expected {n} messages at the SMTP peer, got {}",
            self.messages().len()
        );
    }
}

impl Drop for SmtpPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}

/// The body of a raw message as text, decoded from base64 or quoted-printable, whichever the
/// sender chose (the French text of the email is UTF-8).
pub fn body_text(raw: &str) -> String {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or(("", raw));
    if head
        .to_ascii_lowercase()
        .contains("content-transfer-encoding: base64")
    {
        let compact: String = body.split_whitespace().collect();
        let bytes = data_encoding::BASE64
            .decode(compact.as_bytes())
            .expect("base64 body");
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    let joined = body.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&joined[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
