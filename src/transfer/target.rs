//! Where file bytes may go, and with which headers. Upload links and their headers come from
//! the API's answers; a wrong or hostile answer must not make us send a user's file (or reach
//! a service) anywhere but public object storage over TLS. Only when the API itself runs on
//! this computer (the sandbox) may links point at this computer or use plain http.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

use crate::api::http::{host_ip, is_loopback_url};

/// Which upload targets a destination's links may name, decided by its API base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The API is on this computer (the sandbox): any http(s) link is its own storage.
    Local,
    /// A real API: https only, and only public addresses (never loopback, private, link-local
    /// such as the cloud metadata address 169.254.169.254, or this computer by name).
    Public,
}

impl Reach {
    /// The reach for upload links handed out by the API at `base`.
    pub fn for_api_base(base: &Url) -> Reach {
        if is_loopback_url(base) {
            Reach::Local
        } else {
            Reach::Public
        }
    }
}

/// Why a link may not be used; `None` when it may (name resolution is checked separately).
pub fn refusal(reach: Reach, url: &Url) -> Option<String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Some(format!("it is not an http(s) link ({}:)", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Some("it carries a user name or password".into());
    }
    if url.host_str().is_none() {
        return Some("it has no host".into());
    }
    if reach == Reach::Local {
        return None;
    }
    if url.scheme() != "https" {
        return Some("it is plain http, not https".into());
    }
    if is_loopback_url(url) {
        return Some("it points at this computer".into());
    }
    match host_ip(url) {
        Some(ip) if !is_public_ip(ip) => Some(format!(
            "{ip} is a private, loopback, link-local or reserved address"
        )),
        _ => None,
    }
}

/// Whether an address is on the public internet (what object storage is on).
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let seg = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
            if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = seg[6].to_be_bytes();
                let [c, d] = seg[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from(1u128)) // ::1 (covered, kept explicit)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64/10 (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || a >= 240) // reserved
}

/// Headers an upload link's instructions may ask us to send: the ones the documents name
/// (`Content-Type`, `Content-Length`), the standard object-metadata headers, and S3's
/// `x-amz-*`. Anything else (credentials, `Host`, cookies, hop-by-hop headers) is refused.
pub fn header_allowed(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    matches!(
        lower.as_str(),
        "content-type"
            | "content-length"
            | "content-md5"
            | "cache-control"
            | "content-disposition"
            | "content-encoding"
            | "content-language"
            | "expires"
    ) || lower.starts_with("x-amz-")
}

/// Resolves a link's host and keeps its public addresses: `Ok(false)` when it has none (the
/// name points into a private network or at this computer).
pub async fn resolves_publicly(host: &str, port: u16) -> std::io::Result<bool> {
    let addrs = tokio::net::lookup_host((host, port)).await?;
    Ok(addrs.into_iter().any(|a| is_public_ip(a.ip())))
}

/// The resolver of the transfer client for [`Reach::Public`] links: it never hands reqwest a
/// non-public address, so a name that changes its answer between our check and the connect
/// (DNS rebinding) still cannot reach a private address.
#[derive(Debug, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public_ip(a.ip()))
                .collect();
            if found.is_empty() {
                let e = std::io::Error::new(
                    std::io::ErrorKind::PermissionDenied,
                    format!("{host} resolves to no public address"),
                );
                return Err(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_real_api_gets_https_to_public_addresses_only() {
        let public = Reach::for_api_base(&url("https://api.layers.com"));
        assert_eq!(public, Reach::Public);
        for ok in [
            "https://acct.r2.cloudflarestorage.com/k?X-Amz-Signature=1",
            "https://8.8.8.8/k",
            "https://[2606:4700::1]/k",
        ] {
            assert_eq!(refusal(public, &url(ok)), None, "{ok}");
        }
        for bad in [
            "http://acct.r2.cloudflarestorage.com/k",
            "https://169.254.169.254/latest/meta-data",
            "https://127.0.0.1:9/k",
            "https://10.1.2.3/k",
            "https://172.16.0.1/k",
            "https://192.168.1.1/k",
            "https://100.64.0.1/k",
            "https://0.0.0.0/k",
            "https://[::1]/k",
            "https://[fd00::1]/k",
            "https://[fe80::1]/k",
            "https://[::ffff:10.0.0.1]/k",
            "https://[64:ff9b::a9fe:a9fe]/k",
            "https://localhost/k",
            "https://x.localhost/k",
            "https://user:pw@s.example.com/k",
            "ftp://s.example.com/k",
        ] {
            assert!(refusal(public, &url(bad)).is_some(), "{bad} was allowed");
        }
    }

    #[test]
    fn the_local_sandbox_may_name_itself_over_http() {
        let local = Reach::for_api_base(&url("http://127.0.0.1:8080"));
        assert_eq!(local, Reach::Local);
        assert_eq!(
            refusal(local, &url("http://127.0.0.1:8080/storage/k?sig=1")),
            None
        );
        assert!(refusal(local, &url("file:///etc/passwd")).is_some());
    }

    #[test]
    fn only_object_headers_may_be_sent() {
        for ok in [
            "Content-Type",
            "content-length",
            "Content-MD5",
            "Cache-Control",
            "x-amz-meta-a",
            "X-Amz-Checksum-Sha256",
        ] {
            assert!(header_allowed(ok), "{ok}");
        }
        for bad in [
            "Authorization",
            "X-Api-Key",
            "Host",
            "Cookie",
            "Transfer-Encoding",
            "Connection",
            "Proxy-Authorization",
            "x-amzz",
        ] {
            assert!(!header_allowed(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_name_of_this_computer_has_no_public_address() {
        assert!(!resolves_publicly("localhost", 80).await.unwrap());
        let refused = PublicResolver.resolve("localhost".parse().unwrap()).await;
        assert!(refused.is_err());
    }
}
