//! Sending mail over SMTP (lettre): `smtp://host:port` (plain, or STARTTLS
//! with `?tls=required`), `smtps://user:pass@host` (implicit TLS).

use lettre::{
    message::{header::ContentType, Mailbox},
    Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use std::time::Duration;

/// The longest e-mail address accepted (RFC 5321's path limit).
pub const ADDRESS_MAX: usize = 254;

/// A configured SMTP server and the sender address.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Checks an address a person typed: a clear sentence when it is not one.
pub fn parse_address(text: &str) -> Result<Address, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("Enter an e-mail address.".into());
    }
    if text.chars().count() > ADDRESS_MAX {
        return Err(format!(
            "An e-mail address has at most {ADDRESS_MAX} characters."
        ));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("An e-mail address has no spaces or control characters.".into());
    }
    text.parse::<Address>()
        .map_err(|_| "Enter an address such as name@example.com.".into())
}

impl Mailer {
    /// The mailer for `url` sending as `from`; a sentence naming the flag
    /// when either is not usable.
    pub fn new(url: &str, from: &str) -> Result<Mailer, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("--smtp-url is not usable: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("--mail-from is not an address: {e}"))?;
        Ok(Mailer { transport, from })
    }

    /// Sends a plain-text mail; `message_id` (stable across retries) lets
    /// a receiving system drop a duplicate.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        message_id: Option<String>,
    ) -> Result<(), String> {
        let to = parse_address(to)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(subject)
            .message_id(message_id)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| format!("could not build the message: {e}"))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The domain of the sender address (for Message-IDs).
    pub fn domain(&self) -> String {
        self.from.email.domain().to_owned()
    }
}
