//! Presigned GET links (AWS Signature Version 4, query-string form): whoever holds one
//! may fetch that one object until it expires, straight from the store. Signed here
//! rather than by `object_store`, whose links cannot carry the
//! `response-content-disposition` that names the download.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// Signs GET links to objects of one bucket with a static key.
#[derive(Clone)]
pub(crate) struct Presigner {
    /// `https://host[:port]` of the service (for AWS, the regional endpoint).
    origin: String,
    /// The `Host` the link is signed for.
    host: String,
    bucket: String,
    region: String,
    path_style: bool,
    access_key_id: String,
    secret_access_key: SecretString,
}

impl std::fmt::Debug for Presigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presigner")
            .field("origin", &self.origin)
            .field("bucket", &self.bucket)
            .finish_non_exhaustive()
    }
}

impl Presigner {
    /// A signer for `bucket` at `endpoint` (`http(s)://host[:port]`; none for AWS).
    pub(crate) fn new(
        endpoint: Option<&str>,
        bucket: &str,
        region: &str,
        path_style: bool,
        access_key_id: &str,
        secret_access_key: SecretString,
    ) -> anyhow::Result<Self> {
        let origin = match endpoint {
            Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let (scheme, authority) = origin
            .split_once("://")
            .filter(|(scheme, authority)| {
                matches!(*scheme, "http" | "https")
                    && !authority.is_empty()
                    && !authority.contains(['/', '?', '#', '@'])
            })
            .ok_or_else(|| anyhow::anyhow!("`{origin}` is not an http(s)://host[:port] address"))?;
        let (origin, host) = if path_style {
            (origin.clone(), authority.to_owned())
        } else {
            let host = format!("{bucket}.{authority}");
            (format!("{scheme}://{host}"), host)
        };
        Ok(Self {
            origin,
            host,
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            path_style,
            access_key_id: access_key_id.to_owned(),
            secret_access_key,
        })
    }

    /// A link fetching object `name` (its full name in the bucket) until `now + valid_for`,
    /// answered with `disposition` as its `Content-Disposition` when given.
    pub(crate) fn get_url(
        &self,
        name: &str,
        disposition: Option<&str>,
        valid_for: Duration,
        now: DateTime<Utc>,
    ) -> String {
        let path = if self.path_style {
            format!("/{}/{}", encode(&self.bucket, false), encode(name, true))
        } else {
            format!("/{}", encode(name, true))
        };
        let date = now.format("%Y%m%d").to_string();
        let stamp = now.format("%Y%m%dT%H%M%SZ").to_string();
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let mut query = vec![
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256".to_owned()),
            (
                "X-Amz-Credential",
                format!("{}/{scope}", self.access_key_id),
            ),
            ("X-Amz-Date", stamp.clone()),
            ("X-Amz-Expires", valid_for.as_secs().max(1).to_string()),
            ("X-Amz-SignedHeaders", "host".to_owned()),
        ];
        if let Some(disposition) = disposition {
            query.push(("response-content-disposition", disposition.to_owned()));
        }
        let mut query: Vec<(String, String)> = query
            .into_iter()
            .map(|(key, value)| (encode(key, false), encode(&value, false)))
            .collect();
        query.sort();
        let query = query
            .iter()
            .map(|(key, value)| format!("{key}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let canonical = format!(
            "GET\n{path}\n{query}\nhost:{}\n\nhost\nUNSIGNED-PAYLOAD",
            self.host
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let secret = format!("AWS4{}", self.secret_access_key.expose_secret());
        let key = [date.as_str(), &self.region, "s3", "aws4_request"]
            .iter()
            .fold(secret.into_bytes(), |key, part| hmac(&key, part.as_bytes()));
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        format!("{}{path}?{query}&X-Amz-Signature={signature}", self.origin)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap_or_else(|_| {
        // HMAC takes keys of any length.
        unreachable!("an HMAC key of any length is accepted")
    });
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// URI-encodes as SigV4 wants: every byte but `A-Z a-z 0-9 - _ . ~` (and `/` in a path)
/// as `%XX` in upper case.
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && byte == b'/')
        {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own example of a presigned GET ("Authenticating Requests: Using Query
    /// Parameters", Signature Version 4).
    #[test]
    fn signs_awss_documented_example() {
        let signer = Presigner::new(
            Some("https://s3.amazonaws.com"),
            "examplebucket",
            "us-east-1",
            false,
            "AKIAIOSFODNN7EXAMPLE",
            SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        )
        .unwrap();
        let at = DateTime::parse_from_rfc3339("2013-05-24T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let url = signer.get_url("test.txt", None, Duration::from_secs(86_400), at);
        assert_eq!(
            url,
            "https://examplebucket.s3.amazonaws.com/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request\
             &X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host\
             &X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    #[test]
    fn a_path_style_link_names_the_bucket_in_the_path_and_carries_the_disposition() {
        let signer = Presigner::new(
            Some("http://127.0.0.1:9000/"),
            "exports",
            "us-east-1",
            true,
            "key",
            SecretString::from("secret"),
        )
        .unwrap();
        let url = signer.get_url(
            "udd/exports/OP.zip",
            Some("attachment; filename=\"a b.zip\""),
            Duration::from_secs(60),
            DateTime::UNIX_EPOCH,
        );
        assert!(
            url.starts_with("http://127.0.0.1:9000/exports/udd/exports/OP.zip?X-Amz-Algorithm="),
            "{url}"
        );
        assert!(
            url.contains(
                "&response-content-disposition=attachment%3B%20filename%3D%22a%20b.zip%22&"
            ),
            "{url}"
        );
    }

    #[test]
    fn an_endpoint_must_be_an_origin() {
        for bad in ["ftp://x", "http://", "http://host/path", "host:9000"] {
            let made = Presigner::new(Some(bad), "b", "r", true, "k", SecretString::from("s"));
            assert!(made.is_err(), "{bad}");
        }
    }
}
