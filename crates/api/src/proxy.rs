//! Running behind reverse proxies: who the client is ([`TrustedProxies`], [`ClientAddr`])
//! and serving under the path prefix of `server.site_url` ([`SitePath`]).
//!
//! A proxy appends the address it received a request from to `X-Forwarded-For`, so the
//! header reads `client, proxy1, proxy2` and the connection comes from the last proxy.
//! Anyone can send the header, though: only the entries added by proxies udd trusts are
//! worth anything. So the header is read from the right, past every hop that is a
//! trusted proxy, and the first hop that is not is the client; a connection that does
//! not come from a trusted proxy is taken at its word, the header ignored.

use std::future::{ready, Ready};
use std::net::{IpAddr, SocketAddr};

use actix_web::dev::{Payload, ServiceRequest};
use actix_web::http::header::HeaderMap;
use actix_web::http::Uri;
use actix_web::{web, FromRequest, HttpRequest};
use ipnet::IpNet;

/// The reverse proxies whose forwarding headers are believed (`server.trusted_proxies`).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    networks: Vec<IpNet>,
}

/// Who sent a request, as far as the trusted proxies tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address; `None` only when the connection has no peer address.
    pub ip: Option<IpAddr>,
    /// `https` when a trusted proxy says the client used it, else `http`.
    pub scheme: &'static str,
}

impl Client {
    /// The address as text, empty when unknown (how login blocking and the rate limiter
    /// key their counters).
    pub fn address(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

impl TrustedProxies {
    /// Parses addresses (`127.0.0.1`, `::1`) and CIDR networks (`10.0.0.0/8`).
    ///
    /// Errors: an entry that is neither, named in the message.
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        let networks = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "`{}` is not an IP address or a CIDR network like 10.0.0.0/8",
                            crate::error::printable(entry)
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { networks })
    }

    /// Whether `ip` is one of the proxies (an IPv4 address written as IPv6,
    /// `::ffff:10.0.0.1`, is taken as the IPv4 one).
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|net| net.contains(&ip))
    }

    /// The client of a connection from `peer` that carried these `X-Forwarded-For`
    /// values (every header line, in order) and this `X-Forwarded-Proto`.
    ///
    /// From a trusted peer the forwarded hops are walked from the right, skipping
    /// trusted ones; the first untrusted hop is the client. A hop that is not an address
    /// stops the walk: the last trusted hop before it is the client, as nothing further
    /// left can be vouched for. Every hop trusted: the leftmost is the client.
    pub fn client<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl IntoIterator<Item = &'a str>,
        forwarded_proto: Option<&str>,
    ) -> Client {
        let peer = peer.map(|ip| ip.to_canonical());
        let Some(mut client) = peer.filter(|ip| self.trusts(*ip)) else {
            return Client {
                ip: peer,
                scheme: "http",
            };
        };
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        // Each proxy sets the scheme its own client used; the first one faced the user.
        let scheme = match forwarded_proto
            .and_then(|value| value.split(',').next())
            .map(|value| value.trim().to_ascii_lowercase())
            .as_deref()
        {
            Some("https") => "https",
            _ => "http",
        };
        Client {
            ip: Some(client),
            scheme,
        }
    }

    /// The client of a request with these `headers` from `peer`.
    pub fn client_of(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Client {
        let forwarded_for = headers
            .get_all("x-forwarded-for")
            .filter_map(|value| value.to_str().ok());
        let proto = headers
            .get("x-forwarded-proto")
            .and_then(|value| value.to_str().ok());
        self.client(peer.map(|addr| addr.ip()), forwarded_for, proto)
    }

    /// The client of `req`, by the proxies the app was given (none: the peer).
    pub fn client_of_request(req: &HttpRequest) -> Client {
        let none = Self::default();
        let proxies = req
            .app_data::<web::Data<TrustedProxies>>()
            .map_or(&none, |data| data.get_ref());
        proxies.client_of(req.peer_addr(), req.headers())
    }
}

/// One `X-Forwarded-For` entry as an address: `203.0.113.5`, `2001:db8::1`, or with a
/// port as some proxies write it (`203.0.113.5:4711`, `[2001:db8::1]:4711`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
        .map(|ip| ip.to_canonical())
}

/// A handler argument: the request's client, by the trusted proxies.
#[derive(Debug, Clone)]
pub struct ClientAddr(pub Client);

impl FromRequest for ClientAddr {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self(TrustedProxies::client_of_request(req))))
    }
}

/// The path prefix of `server.site_url` (`/udd` for `https://chat.example.org/udd`),
/// empty when the site is at the root.
///
/// udd answers its routes under the prefix and without it, so a proxy may pass the
/// prefixed path through unchanged or strip it, and Rocket.Chat's own paths (which have
/// no prefix) reach udd too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SitePath(String);

impl SitePath {
    /// The prefix `path` (no trailing slash; empty for none).
    pub fn new(path: &str) -> Self {
        Self(path.trim_end_matches('/').to_owned())
    }

    /// The prefix, e.g. `/udd`, or empty.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `path` with the prefix removed, when it starts with it at a segment boundary:
    /// `/udd/data-export/x` → `/data-export/x`, `/udd` → `/`, `/uddx` → unchanged.
    pub fn strip<'a>(&self, path: &'a str) -> Option<&'a str> {
        if self.0.is_empty() {
            return None;
        }
        match path.strip_prefix(self.0.as_str())? {
            "" => Some("/"),
            rest if rest.starts_with('/') => Some(rest),
            _ => None,
        }
    }

    /// Rewrites `req`'s path without the prefix, before routing, so the routes match
    /// both forms. The query string is kept as it was.
    pub fn unprefix(&self, req: &mut ServiceRequest) {
        let Some(rest) = self.strip(req.path()) else {
            return;
        };
        let path_and_query = match req.query_string() {
            "" => rest.to_owned(),
            query => format!("{rest}?{query}"),
        };
        let mut parts = req.head().uri.clone().into_parts();
        let Ok(path_and_query) = path_and_query.parse() else {
            return;
        };
        parts.path_and_query = Some(path_and_query);
        let Ok(uri) = Uri::from_parts(parts) else {
            return;
        };
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        let entries: Vec<String> = entries.iter().map(|e| (*e).to_owned()).collect();
        TrustedProxies::parse(&entries).unwrap_or_default()
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    fn client_ip(proxies: &TrustedProxies, peer: &str, forwarded: &[&str]) -> String {
        proxies
            .client(ip(peer), forwarded.iter().copied(), None)
            .address()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_and_the_header_is_ignored() {
        let none = TrustedProxies::default();
        assert_eq!(client_ip(&none, "10.0.0.9", &["203.0.113.5"]), "10.0.0.9");
        let some = proxies(&["127.0.0.1"]);
        assert_eq!(
            client_ip(&some, "10.0.0.9", &["203.0.113.5"]),
            "10.0.0.9",
            "a peer that is not a proxy cannot speak for anyone else"
        );
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        // nginx on the same host appended the address it saw.
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["198.51.100.2"]),
            "198.51.100.2"
        );
        // The client forged an entry; nginx appended the real one after it.
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["203.0.113.66, 198.51.100.2"]),
            "198.51.100.2"
        );
        // Two proxies (a load balancer in 10/8, then nginx): both are skipped.
        assert_eq!(
            client_ip(
                &trusted,
                "127.0.0.1",
                &["203.0.113.66, 198.51.100.2, 10.1.2.3"]
            ),
            "198.51.100.2"
        );
        // Several header lines are one list, in order.
        assert_eq!(
            client_ip(
                &trusted,
                "127.0.0.1",
                &["203.0.113.66", "198.51.100.2, 10.1.2.3"]
            ),
            "198.51.100.2"
        );
    }

    #[test]
    fn odd_headers_never_let_a_client_choose_its_address() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        assert_eq!(client_ip(&trusted, "127.0.0.1", &[]), "127.0.0.1");
        assert_eq!(client_ip(&trusted, "127.0.0.1", &[""]), "127.0.0.1");
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["203.0.113.66, unknown"]),
            "127.0.0.1"
        );
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["203.0.113.66, garbage, 10.1.2.3"]),
            "10.1.2.3"
        );
        // Every hop trusted: the furthest one.
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["10.9.9.9, 10.1.2.3"]),
            "10.9.9.9"
        );
        // Ports and IPv6 forms.
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["198.51.100.2:4711"]),
            "198.51.100.2"
        );
        assert_eq!(
            client_ip(&trusted, "127.0.0.1", &["[2001:db8::1]:4711"]),
            "2001:db8::1"
        );
        assert_eq!(
            client_ip(&trusted, "::ffff:127.0.0.1", &["::ffff:198.51.100.2"]),
            "198.51.100.2",
            "IPv4 written as IPv6 is IPv4"
        );
        assert_eq!(
            TrustedProxies::default().client(None, [], None).address(),
            ""
        );
    }

    #[test]
    fn the_scheme_is_believed_only_from_a_trusted_proxy() {
        let trusted = proxies(&["127.0.0.1"]);
        let scheme = |peer: &str, proto: &str| trusted.client(ip(peer), [], Some(proto)).scheme;
        assert_eq!(scheme("127.0.0.1", "https"), "https");
        assert_eq!(scheme("127.0.0.1", "HTTPS"), "https");
        assert_eq!(scheme("127.0.0.1", "https, http"), "https");
        assert_eq!(scheme("127.0.0.1", "gopher"), "http");
        assert_eq!(scheme("10.0.0.9", "https"), "http");
    }

    #[test]
    fn proxies_are_addresses_or_networks() {
        let parsed = proxies(&["127.0.0.1", " ::1 ", "10.0.0.0/8", "192.168.1.77/24"]);
        for inside in ["127.0.0.1", "::1", "10.200.0.1", "192.168.1.1"] {
            assert!(parsed.trusts(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["127.0.0.2", "11.0.0.1", "192.168.2.1", "::2"] {
            assert!(!parsed.trusts(outside.parse().unwrap()), "{outside}");
        }
        for bad in ["localhost", "10.0.0.0/33", "1.2.3", ""] {
            let err = TrustedProxies::parse(&[bad.to_owned()]).unwrap_err();
            assert!(
                err.to_string().contains("not an IP address"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_site_path_is_stripped_only_at_a_segment_boundary() {
        let udd = SitePath::new("/udd/");
        assert_eq!(udd.as_str(), "/udd");
        assert_eq!(udd.strip("/udd/data-export/F"), Some("/data-export/F"));
        assert_eq!(udd.strip("/udd"), Some("/"));
        assert_eq!(udd.strip("/udd/"), Some("/"));
        assert_eq!(udd.strip("/uddx/data-export/F"), None);
        assert_eq!(udd.strip("/data-export/F"), None);
        assert_eq!(SitePath::default().strip("/udd/x"), None);
    }
}
