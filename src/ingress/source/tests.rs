//! Tests of `ingress/source.rs`.

use super::*;

fn source(allow: &[&str]) -> Source {
    let yaml = format!(
        "allow: [{}]\ntoken: {{header: X-Token, value: s3cret}}",
        allow.join(", ")
    );
    let cfg: SourceConfig = serde_saphyr::from_str(&yaml).unwrap();
    let mut problems = Problems::default();
    let s = compile("s", cfg, &Env::default(), None, &mut problems).unwrap();
    assert!(problems.is_empty(), "{problems}");
    s
}

#[test]
fn mapped_v4_entries_match_v4_clients() {
    let s = source(&["::ffff:127.0.0.2", "::ffff:10.0.0.0/104"]);
    for (ip, ok) in [
        ("127.0.0.2", true),
        ("::ffff:127.0.0.2", true),
        ("127.0.0.3", false),
        ("10.200.1.1", true),
        ("11.0.0.1", false),
    ] {
        assert_eq!(s.admits(ip.parse().unwrap()), ok, "{ip}");
    }
    assert_eq!(
        parse_net("::ffff:10.0.0.0/104").unwrap(),
        "10.0.0.0/8".parse::<IpNet>().unwrap()
    );
    assert_eq!(parse_net("::/0").unwrap(), "::/0".parse::<IpNet>().unwrap());
}

#[test]
fn allow_list_matches_ips_cidrs_and_mapped_v4() {
    let s = source(&["217.116.118.254", "10.0.0.0/8", "2001:db8::/32"]);
    for (ip, ok) in [
        ("217.116.118.254", true),
        ("217.116.118.253", false),
        ("10.9.8.7", true),
        ("::ffff:10.1.2.3", true),
        ("::ffff:217.116.118.254", true),
        ("2001:db8::1", true),
        ("2001:db9::1", false),
        ("127.0.0.1", false),
    ] {
        assert_eq!(s.admits(ip.parse().unwrap()), ok, "{ip}");
    }
}

#[test]
fn token_must_match_exactly() {
    let s = source(&["127.0.0.1"]);
    let mut headers = HeaderMap::new();
    assert!(!s.authenticates(&headers));
    headers.insert("x-token", "s3cre".parse().unwrap());
    assert!(!s.authenticates(&headers));
    headers.insert("x-token", "s3cret".parse().unwrap());
    assert!(s.authenticates(&headers));
}
