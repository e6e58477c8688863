//! `[server]`: where udd listens, the public address its links start with, the secret
//! that signs them, and the reverse proxies whose forwarding headers it believes.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::within;
use crate::proxy::TrustedProxies;

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to listen on; port 0 picks a free port.
    pub bind: String,
    /// The public base URL used in links (e-mails, download paths). It may carry a
    /// path (`https://chat.example.org/udd`): every URL udd gives out then starts with
    /// that path, and udd serves its routes both with and without it.
    pub site_url: String,
    /// The workspace's name (Rocket.Chat's `Site_Name`), in mail subjects, texts and
    /// the sender's display name.
    pub site_name: String,
    /// HTTP worker threads; by default one per core.
    pub http_workers: Option<usize>,
    /// The secret that signs download links (at least 16 bytes). When unset, one is
    /// generated into `link_secret_file` on first start and kept there.
    pub link_secret: Option<SecretString>,
    /// Where the generated link secret is kept.
    pub link_secret_file: PathBuf,
    /// Reverse proxies in front of udd, as IP addresses or CIDR networks
    /// (`127.0.0.1`, `10.0.0.0/8`, `::1`). `X-Forwarded-For` and `X-Forwarded-Proto` are
    /// believed only on connections from one of them; the client is the first address,
    /// from the right of `X-Forwarded-For`, that is not one of them. Empty (the
    /// default): the connection's peer is the client and the headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// Replaced by `trusted_proxies`, which cannot be fooled by a client that reaches
    /// udd without the proxy: a value here is refused at start-up with that advice.
    pub forwarded_count: Option<u64>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:3000".to_owned(),
            site_url: "http://localhost:3000".to_owned(),
            site_name: "Rocket.Chat".to_owned(),
            http_workers: None,
            link_secret: None,
            link_secret_file: PathBuf::from("data/link-secret"),
            trusted_proxies: Vec::new(),
            forwarded_count: None,
        }
    }
}

impl ServerSettings {
    /// Rejects values that would only fail later, with a message naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.bind.parse::<SocketAddr>().with_context(|| {
            format!(
                "server.bind `{}` is not an address like 127.0.0.1:3000",
                self.bind
            )
        })?;
        self.site_path()?;
        if let Some(workers) = self.http_workers {
            within("server.http_workers", workers as u64, 1, 256)?;
        }
        anyhow::ensure!(
            self.forwarded_count.is_none(),
            "server.forwarded_count is no longer supported: list the reverse proxies in front \
             of udd in server.trusted_proxies instead (e.g. [\"127.0.0.1\"] for an nginx on \
             the same host), so that X-Forwarded-For is only believed when it comes from them"
        );
        self.proxies()?;
        if let Some(secret) = &self.link_secret {
            let least = udd_adapters::links::MIN_SECRET_LEN;
            anyhow::ensure!(
                secret.expose_secret().len() >= least,
                "server.link_secret must be at least {least} bytes long"
            );
        }
        Ok(())
    }

    /// The path part of `site_url` without a trailing slash: `""` for
    /// `https://chat.example.org`, `"/udd"` for `https://chat.example.org/udd/`.
    ///
    /// Errors: `site_url` is not an `http(s)://` URL with a host, or carries a user, a
    /// query or a fragment (links are built by appending to it).
    pub fn site_path(&self) -> anyhow::Result<String> {
        let site = &self.site_url;
        let complaint = || {
            format!(
                "server.site_url `{}` must be an http:// or https:// URL with a host and \
                 at most a path, like https://chat.example.org or https://chat.example.org/udd \
                 (it starts the links in mails)",
                crate::error::printable(site)
            )
        };
        anyhow::ensure!(!site.contains(char::is_whitespace), complaint());
        let url = url::Url::parse(site).with_context(complaint)?;
        anyhow::ensure!(
            matches!(url.scheme(), "http" | "https")
                && url.host().is_some()
                && url.username().is_empty()
                && url.password().is_none()
                && url.query().is_none()
                && url.fragment().is_none(),
            complaint()
        );
        Ok(url.path().trim_end_matches('/').to_owned())
    }

    /// The proxies `trusted_proxies` names.
    ///
    /// Errors: an entry that is neither an IP address nor a CIDR network.
    pub fn proxies(&self) -> anyhow::Result<TrustedProxies> {
        TrustedProxies::parse(&self.trusted_proxies).context("server.trusted_proxies")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::env;
    use crate::settings::Settings;

    fn site(url: &str) -> ServerSettings {
        ServerSettings {
            site_url: url.to_owned(),
            ..ServerSettings::default()
        }
    }

    #[test]
    fn the_site_path_is_the_urls_path_without_its_trailing_slash() -> anyhow::Result<()> {
        for (url, path) in [
            ("http://localhost:3000", ""),
            ("https://chat.example.org/", ""),
            ("https://chat.example.org/udd", "/udd"),
            ("https://chat.example.org/udd/", "/udd"),
            ("https://chat.example.org/a/b//", "/a/b"),
            ("https://[::1]:8443/udd", "/udd"),
        ] {
            assert_eq!(site(url).site_path()?, path, "{url}");
        }
        Ok(())
    }

    #[test]
    fn a_site_url_links_cannot_be_appended_to_is_refused() {
        for url in [
            "chat.example.org",
            "ftp://chat.example.org",
            "https://",
            "https://chat.example.org/udd?x=1",
            "https://chat.example.org/#top",
            "https://user:pw@chat.example.org",
            "https://chat.example.org/u dd",
            "",
        ] {
            let err = site(url).validate().unwrap_err();
            assert!(
                format!("{err:#}").contains("server.site_url"),
                "{url}: {err:#}"
            );
        }
    }

    #[test]
    fn forwarded_count_is_refused_with_the_setting_that_replaced_it() {
        let settings = ServerSettings {
            forwarded_count: Some(1),
            ..ServerSettings::default()
        };
        let err = format!("{:#}", settings.validate().unwrap_err());
        assert!(err.contains("server.trusted_proxies"), "{err}");
    }

    #[test]
    fn trusted_proxies_must_be_addresses_or_networks() {
        let settings = ServerSettings {
            trusted_proxies: vec!["10.0.0.0/8".into(), "proxy.local".into()],
            ..ServerSettings::default()
        };
        let err = format!("{:#}", settings.validate().unwrap_err());
        assert!(
            err.contains("server.trusted_proxies") && err.contains("proxy.local"),
            "{err}"
        );
    }

    /// The TOML blocks of a document under docs/.
    fn toml_blocks(doc: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs")
            .join(doc);
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.split("```toml\n")
            .skip(1)
            .filter_map(|rest| rest.split("```").next().map(str::to_owned))
            .collect()
    }

    #[test]
    fn the_documented_server_examples_load_and_trust_the_local_nginx() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("udd.toml");
        let mut checked = 0;
        for doc in ["deploy.md", "configuration.md"] {
            for block in toml_blocks(doc).iter().filter(|b| b.contains("[server]")) {
                std::fs::write(&file, block)?;
                let settings = Settings::load_from(Some(&file), env(&[]))
                    .map_err(|e| anyhow::anyhow!("{doc}: {e:#}\n{block}"))?;
                let proxies = settings.server.proxies()?;
                assert!(proxies.trusts("127.0.0.1".parse()?), "{doc}");
                assert!(!proxies.trusts("127.0.0.2".parse()?), "{doc}");
                checked += 1;
            }
        }
        assert_eq!(checked, 2, "one example in each document");
        Ok(())
    }
}
