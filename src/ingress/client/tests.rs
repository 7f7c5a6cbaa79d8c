//! Tests of `ingress/client.rs`.

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

#[test]
fn client_ip_believes_only_trusted_proxies() {
    use ClientIpHeader::{Forwarded, XForwardedFor, XRealIp};
    let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    // (peer, header setting, headers, client or None for "refused")
    type Case<'a> = (
        &'a str,
        ClientIpHeader,
        &'a [(&'a str, &'a str)],
        Option<&'a str>,
    );
    let sipgate = Some("217.116.118.254");
    let table: &[Case] = &[
        // An untrusted peer's header is ignored.
        (
            "203.0.113.9",
            XForwardedFor,
            &[("x-forwarded-for", "217.116.118.254")],
            Some("203.0.113.9"),
        ),
        (
            "203.0.113.9",
            XForwardedFor,
            &[("x-forwarded-for", "garbage")],
            Some("203.0.113.9"),
        ),
        // Trusted peer: the rightmost untrusted hop is the client.
        (
            "10.0.0.1",
            XForwardedFor,
            &[("x-forwarded-for", "1.1.1.1, 217.116.118.254")],
            sipgate,
        ),
        (
            "10.0.0.1",
            XForwardedFor,
            &[("x-forwarded-for", "217.116.118.254, 10.0.0.7")],
            sipgate,
        ),
        (
            "10.0.0.1",
            XForwardedFor,
            &[
                ("x-forwarded-for", "217.116.118.254"),
                ("x-forwarded-for", "10.0.0.9"),
            ],
            sipgate,
        ),
        // A spoofed left entry does not win over the proxy-appended right one.
        (
            "10.0.0.1",
            XForwardedFor,
            &[("x-forwarded-for", "217.116.118.254, 198.51.100.7")],
            Some("198.51.100.7"),
        ),
        // Garbage is refused, never taken for the proxy.
        (
            "10.0.0.1",
            XForwardedFor,
            &[("x-forwarded-for", "217.116.118.254, nonsense")],
            None,
        ),
        ("10.0.0.1", XForwardedFor, &[("x-forwarded-for", "")], None),
        // No header: the trusted peer is the client.
        ("10.0.0.1", XForwardedFor, &[], Some("10.0.0.1")),
        (
            "::ffff:10.0.0.1",
            XForwardedFor,
            &[("x-forwarded-for", "217.116.118.254")],
            sipgate,
        ),
        // The header not configured is ignored, whatever it says.
        (
            "10.0.0.1",
            XForwardedFor,
            &[
                ("forwarded", "for=217.116.118.254"),
                ("x-forwarded-for", "198.51.100.7"),
            ],
            Some("198.51.100.7"),
        ),
        (
            "10.0.0.1",
            XForwardedFor,
            &[("forwarded", "for=217.116.118.254")],
            Some("10.0.0.1"),
        ),
        (
            "10.0.0.1",
            XForwardedFor,
            &[("x-real-ip", "217.116.118.254")],
            Some("10.0.0.1"),
        ),
        // Forwarded, when configured.
        (
            "10.0.0.1",
            Forwarded,
            &[
                (
                    "forwarded",
                    "for=1.2.3.4;proto=https, for=\"[2001:db8::1]:4711\"",
                ),
                ("x-forwarded-for", "9.9.9.9"),
            ],
            Some("2001:db8::1"),
        ),
        (
            "10.0.0.1",
            Forwarded,
            &[("forwarded", "for=217.116.118.254:443;by=10.0.0.1")],
            sipgate,
        ),
        ("10.0.0.1", Forwarded, &[("forwarded", "for=unknown")], None),
        ("10.0.0.1", Forwarded, &[("forwarded", "for=_hidden")], None),
        ("10.0.0.1", Forwarded, &[("forwarded", "proto=https")], None),
        (
            "10.0.0.1",
            Forwarded,
            &[("x-forwarded-for", "217.116.118.254")],
            Some("10.0.0.1"),
        ),
        // X-Real-IP: one address.
        (
            "10.0.0.1",
            XRealIp,
            &[("x-real-ip", "217.116.118.254")],
            sipgate,
        ),
        (
            "10.0.0.1",
            XRealIp,
            &[("x-real-ip", "217.116.118.254, 1.2.3.4")],
            None,
        ),
        ("10.0.0.1", XRealIp, &[("x-real-ip", "unknown")], None),
        (
            "10.0.0.1",
            XRealIp,
            &[("x-forwarded-for", "217.116.118.254")],
            Some("10.0.0.1"),
        ),
        // A bracketed IPv4-mapped hop without a port is the IPv4 address.
        (
            "10.0.0.1",
            XForwardedFor,
            &[("x-forwarded-for", "[::ffff:217.116.118.254]")],
            sipgate,
        ),
    ];
    for (peer, which, h, want) in table {
        assert_eq!(
            client_ip(ip(peer), &headers(h), &trusted, *which).ok(),
            want.map(ip),
            "peer {peer} via {which:?} headers {h:?}"
        );
    }
}
