//! Email: invitations and new-password links, sent through the fund's mail server when the
//! deployment names one (`smtp_url`), with lettre. Without one, nothing is sent and the pages
//! show the link to hand over.
//!
//! `smtp://` always upgrades with STARTTLS and refuses a server that cannot (no password ever
//! crosses in clear); `smtps://` is TLS from the first byte; `?tls=none` is plain text, for a
//! relay on the same machine (and the tests' SMTP peer).

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// A plain-text email to one person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp_url: {0}")]
    Config(String),
    #[error("the address {0:?} cannot receive email")]
    Address(String),
    #[error("the mail server refused or could not be reached: {0}")]
    Send(String),
}

/// The fund's mail server.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from).finish()
    }
}

impl Mailer {
    /// The mailer of a configuration: `None` when no server is set.
    pub fn from_config(
        smtp_url: Option<&str>,
        from: Option<&str>,
    ) -> Result<Option<Mailer>, MailError> {
        let Some(smtp_url) = smtp_url.filter(|u| !u.trim().is_empty()) else {
            return Ok(None);
        };
        let from = from.ok_or_else(|| {
            MailError::Config("mail_from must be set with smtp_url (the sender's address)".into())
        })?;
        let from: Mailbox = from
            .parse()
            .map_err(|_| MailError::Config(format!("mail_from {from:?} is not an address")))?;
        Ok(Some(Mailer {
            transport: transport(smtp_url)?,
            from,
        }))
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Address(mail.to.clone()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| MailError::Send(e.to_string()))?;
        self.transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(e.to_string()))?;
        Ok(())
    }
}

fn transport(smtp_url: &str) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let url = url::Url::parse(smtp_url).map_err(|e| MailError::Config(e.to_string()))?;
    let host = url
        .host_str()
        .ok_or_else(|| MailError::Config("the URL names no server".into()))?
        .to_string();
    let plain = url.query_pairs().any(|(k, v)| k == "tls" && v == "none");
    let tls_err = |e: lettre::transport::smtp::Error| MailError::Config(e.to_string());
    let mut builder = match (url.scheme(), plain) {
        ("smtps", false) => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
            .map_err(tls_err)?
            .port(url.port().unwrap_or(465)),
        ("smtp", false) => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
            .map_err(tls_err)?
            .port(url.port().unwrap_or(587)),
        ("smtp", true) => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            .port(url.port().unwrap_or(25)),
        (scheme, _) => {
            return Err(MailError::Config(format!(
                "{scheme}:// is not smtp:// or smtps://"
            )))
        }
    };
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_decode(s).ok_or_else(|| MailError::Config("bad %-escape in the URL".into()))
        };
        let user = decode(url.username())?;
        let password = decode(url.password().unwrap_or_default())?;
        builder = builder.credentials(Credentials::new(user, password));
    }
    Ok(builder
        .timeout(Some(std::time::Duration::from_secs(20)))
        .build())
}

fn percent_decode(s: &str) -> Option<String> {
    // `+` is itself in a URL's user and password, not a space as in a form.
    let pairs = format!("x={}", s.replace('+', "%2B"));
    form_urlencoded::parse(pairs.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_server_no_mailer() {
        assert!(Mailer::from_config(None, None).unwrap().is_none());
        assert!(Mailer::from_config(Some(" "), None).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_server_needs_a_sender_and_a_known_scheme() {
        let e = Mailer::from_config(Some("smtp://mail.example.org"), None).unwrap_err();
        assert!(e.to_string().contains("mail_from"), "{e}");
        let from = Some("Caisse <caisse@example.org>");
        let e = Mailer::from_config(Some("imap://mail.example.org"), from).unwrap_err();
        assert!(e.to_string().contains("imap"), "{e}");
        for url in [
            "smtp://u%40example.org:p@mail.example.org:587",
            "smtps://mail.example.org",
            "smtp://127.0.0.1:2525?tls=none",
        ] {
            assert!(
                Mailer::from_config(Some(url), from).unwrap().is_some(),
                "{url}"
            );
        }
    }

    #[test]
    fn escapes_in_credentials_are_decoded() {
        assert_eq!(
            percent_decode("caisse%40example.org").unwrap(),
            "caisse@example.org"
        );
        assert_eq!(percent_decode("a+b%2Fc").unwrap(), "a+b/c");
    }
}
