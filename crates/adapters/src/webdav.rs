//! Uploads Rocket.Chat keeps on a WebDAV server (`FileUpload_Storage_Type = Webdav`),
//! read in place: `GET` of the store's address followed by the upload's
//! `Webdav.path`, with the store's credentials (HTTP basic authentication).

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, Context};
use reqwest::blocking::Client;
use reqwest::{StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};

/// Rocket.Chat's WebDAV upload store, read only.
pub struct WebDavUploads {
    client: Client,
    base: Url,
    username: Option<String>,
    password: Option<SecretString>,
}

impl std::fmt::Debug for WebDavUploads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDavUploads")
            .field("base", &self.base.as_str())
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl WebDavUploads {
    /// The store at `url` (`FileUpload_Webdav_Server_URL`, `http(s)://`), signed in to
    /// as `username` with `password` when given. `timeout` bounds the connection and
    /// each read, not a whole download: uploads may be gigabytes.
    ///
    /// Errors: a URL that is not `http(s)://`, or the TLS setup failing.
    pub fn new(
        url: &str,
        username: Option<String>,
        password: Option<SecretString>,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let mut base = Url::parse(url.trim()).map_err(|e| anyhow!("the WebDAV URL: {e}"))?;
        anyhow::ensure!(
            matches!(base.scheme(), "http" | "https") && base.host().is_some(),
            "the WebDAV URL must be an http:// or https:// address"
        );
        // Credentials written into the URL are taken as the settings' (unless those are
        // given) and kept out of the URL, which messages and logs show.
        let (username, password) = match (username, base.username()) {
            (None, "") => (None, password),
            (None, user) => {
                let user = user.to_owned();
                let pass = base.password().map(|p| SecretString::from(p.to_owned()));
                (Some(user), password.or(pass))
            }
            (given, _) => (given, password),
        };
        base.set_username("")
            .and_then(|()| base.set_password(None))
            .map_err(|()| anyhow!("the WebDAV URL cannot hold credentials"))?;
        let client = crate::remote_sessions::http_client(timeout)
            .context("building the HTTP client for WebDAV")?;
        Ok(Self {
            client,
            base,
            username,
            password,
        })
    }

    /// Where `path` (an upload's `Webdav.path`, such as `/uploads/<id>`) is: each of
    /// its parts appended to the store's address, percent-encoded.
    fn url_of(&self, path: &str) -> anyhow::Result<Url> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| anyhow!("the WebDAV URL `{}` cannot have a path", self.base))?
            .pop_if_empty()
            .extend(path.split('/').filter(|part| !part.is_empty()));
        Ok(url)
    }

    /// The bytes at `path`, streamed; `None` when the server has nothing there (404).
    ///
    /// Errors: the server unreachable, refusing the credentials, or answering anything
    /// but the file.
    pub fn open(&self, path: &str) -> anyhow::Result<Option<Box<dyn Read + Send>>> {
        let url = self.url_of(path)?;
        let mut request = self.client.get(url.clone());
        if let Some(username) = &self.username {
            request = request.basic_auth(
                username,
                self.password.as_ref().map(|p| p.expose_secret().to_owned()),
            );
        }
        let response = request
            .send()
            .with_context(|| format!("reading {url} from WebDAV"))?;
        match response.status() {
            StatusCode::OK => Ok(Some(Box::new(response))),
            StatusCode::NOT_FOUND | StatusCode::GONE => Ok(None),
            status => anyhow::bail!("reading {url} from WebDAV: the server answered {status}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(url: &str) -> anyhow::Result<WebDavUploads> {
        WebDavUploads::new(url, None, None, Duration::from_secs(1))
    }

    #[test]
    fn a_path_is_appended_part_by_part_to_the_store_s_address() -> anyhow::Result<()> {
        let plain = store("https://dav.example.org")?;
        assert_eq!(
            plain.url_of("/uploads/F1")?.as_str(),
            "https://dav.example.org/uploads/F1"
        );
        let nested = store("https://cloud.example.org/remote.php/dav/files/rc/")?;
        assert_eq!(
            nested.url_of("uploads/a b#?")?.as_str(),
            "https://cloud.example.org/remote.php/dav/files/rc/uploads/a%20b%23%3F"
        );
        // A path from a dump cannot climb out of the store's address.
        assert!(nested
            .url_of("/uploads/../../../../etc/./passwd")?
            .as_str()
            .starts_with("https://cloud.example.org/remote.php/dav/files/rc/"));
        Ok(())
    }

    #[test]
    fn credentials_in_the_url_are_used_but_never_shown() -> anyhow::Result<()> {
        let dav = store("https://rc:s3cret@dav.example.org/dav/")?;
        assert_eq!(dav.username.as_deref(), Some("rc"));
        assert_eq!(
            dav.password.as_ref().map(|p| p.expose_secret().to_owned()),
            Some("s3cret".to_owned())
        );
        assert_eq!(
            dav.url_of("/uploads/F1")?.as_str(),
            "https://dav.example.org/dav/uploads/F1"
        );
        assert!(!format!("{dav:?}").contains("s3cret"));
        let refused = store("https://rc:s3cret@dav example.org/").expect_err("a space");
        assert!(!format!("{refused:#}").contains("s3cret"), "{refused:#}");
        Ok(())
    }

    #[test]
    fn only_http_addresses_are_taken() {
        for url in [
            "dav.example.org",
            "ftp://dav.example.org",
            "file:///tmp",
            "",
        ] {
            assert!(store(url).is_err(), "{url}");
        }
    }
}
