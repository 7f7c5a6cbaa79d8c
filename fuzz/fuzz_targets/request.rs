//! The ingress decision path of `POST /hooks/{source}`, without sockets.
//!
//! Ingress has no pure entry point (its handler reads a warp body stream
//! and writes the spool), so this target runs the same checks in the same
//! order on what it can reach: `client_ip` over forwarded headers and
//! trusted proxies, the allow-list, the per-client rate, the token,
//! `Source::verify`, the probe test, strict JSON parsing, `accept` (routing
//! and rendering) and `explain`.
//!
//! Input: a header block, a blank line, the body. Header lines are
//! `Name: value`; lines starting with `@` set the request's frame:
//! `@source NAME` (default `open`), `@peer IP` (default 10.0.0.1, a trusted
//! proxy), `@trusted CIDR` (added to `server.trusted_proxies`), `@now SECS`,
//! and `@sign`, which replaces `webhook-signature` with a valid one for the
//! `webhook-id` and `webhook-timestamp` given, so that signed requests get
//! through to routing.
#![no_main]

use std::net::IpAddr;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use switchboard::config::{ClientIpHeader, Config};
use switchboard::config::interpolate::Env;
use switchboard::runtime::Runtime;
use switchboard::dispatch::sign::Signer;
use switchboard::ingress::verify::Verdict;

const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// The Standard Webhooks test vector's time: the seeds are signed for it.
const DEFAULT_NOW: u64 = 1_649_367_553;

static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let yaml = include_str!("../request.yaml");
    let config = Config::parse(yaml).unwrap_or_else(|e| panic!("request.yaml: {e}"));
    Runtime::compile(config, &Env::default(), None).unwrap_or_else(|e| panic!("request.yaml: {e}"))
});

static SIGNER: LazyLock<Signer> =
    LazyLock::new(|| Signer::from_secrets(&[SW_SECRET]).expect("the test vector secret"));

static RUNS: AtomicU64 = AtomicU64::new(0);

/// The ingress probe test: an empty body, `{}` or `null`, surrounded by
/// any ASCII whitespace.
fn is_probe_body(raw: &[u8]) -> bool {
    matches!(
        switchboard::ingress::payload::Payload::read(raw),
        Ok(switchboard::ingress::payload::Payload::Probe)
    )
}

struct Request {
    source: String,
    peer: IpAddr,
    trusted: Vec<IpNet>,
    now: u64,
    sign: bool,
    which: ClientIpHeader,
    headers: HeaderMap,
    body: Bytes,
}

fn split(data: &[u8]) -> Request {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (&[][..], data),
    };
    let mut request = Request {
        source: "open".to_owned(),
        peer: IpAddr::from([10, 0, 0, 1]),
        trusted: RUNTIME.server.trusted_proxies.clone(),
        now: DEFAULT_NOW,
        sign: false,
        which: ClientIpHeader::XForwardedFor,
        headers: HeaderMap::new(),
        body: Bytes::copy_from_slice(body),
    };
    for line in head.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(frame) = line.strip_prefix(b"@") {
            let text = String::from_utf8_lossy(frame);
            let (key, value) = text.split_once(' ').unwrap_or((&text, ""));
            match key {
                "source" => request.source = value.to_owned(),
                "peer" => {
                    if let Ok(ip) = value.trim().parse() {
                        request.peer = ip;
                    }
                }
                "trusted" => {
                    if let Ok(net) = switchboard::ingress::source::parse_net(value) {
                        request.trusted.push(net);
                    }
                }
                "now" => request.now = value.trim().parse().unwrap_or(request.now),
                "sign" => request.sign = true,
                "header" => match value.trim() {
                    "forwarded" => request.which = ClientIpHeader::Forwarded,
                    "x-real-ip" => request.which = ClientIpHeader::XRealIp,
                    _ => request.which = ClientIpHeader::XForwardedFor,
                },
                _ => {}
            }
            continue;
        }
        // explain's `Name: value` parser first, then raw bytes (header
        // values may be any visible byte, not only UTF-8).
        if let Some((name, value)) = std::str::from_utf8(line)
            .ok()
            .and_then(|l| switchboard::cli::explain::parse_header(l).ok())
        {
            request.headers.append(name, value);
        } else if let Some(colon) = line.iter().position(|b| *b == b':') {
            let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                request.headers.append(name, value);
            }
        }
    }
    if request.sign {
        let id = request
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok());
        let ts = request
            .headers
            .get("webhook-timestamp")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if let (Some(id), Some(ts)) = (id, ts) {
            let signature = SIGNER.sign(id, ts, &request.body);
            if let Ok(value) = HeaderValue::from_str(&signature) {
                request.headers.insert("webhook-signature", value);
            }
        }
    }
    request
}

fuzz_target!(|data: &[u8]| {
    check(data);
    switchboard_fuzz::connection::run(data);
});

/// The decision half: the handler's checks in its order.
fn check(data: &[u8]) {
    let runtime = &*RUNTIME;
    let request = split(data);
    let headers = &request.headers;
    let raw = &request.body;

    // The per-client limiter keeps a key per address; prune as the relay
    // does every minute, so a long run stays within its memory limit.
    if RUNS.fetch_add(1, Ordering::Relaxed) % 4096 == 0 {
        for source in runtime.sources.values() {
            if let Some(limit) = &source.limit {
                limit.prune();
            }
        }
    }

    // Client address: an untrusted peer is the client, whatever it says;
    // only the configured header counts; unreadable is refused, never the
    // proxy.
    let read = |headers: &HeaderMap| {
        switchboard::ingress::client::client_ip(request.peer, headers, &request.trusted, request.which)
    };
    let answer = read(headers);
    let peer = request.peer.to_canonical();
    let peer_trusted = request.trusted.iter().any(|n| n.contains(&peer));
    let name = match request.which {
        ClientIpHeader::XForwardedFor => "x-forwarded-for",
        ClientIpHeader::Forwarded => "forwarded",
        ClientIpHeader::XRealIp => "x-real-ip",
    };
    let mut only_configured = HeaderMap::new();
    for value in headers.get_all(name) {
        only_configured.append(name, value.clone());
    }
    assert_eq!(
        answer,
        read(&only_configured),
        "a header other than {name} changed the client address"
    );
    if !peer_trusted {
        assert_eq!(answer, Ok(peer), "untrusted peer {peer} became {answer:?}");
    }
    if only_configured.is_empty() {
        assert_eq!(answer, Ok(peer), "no {name} header, yet not the peer");
    }
    let Ok(client) = answer else {
        // Ingress answers 403 here.
        return;
    };
    // Not asserted: `client == client.to_canonical()`. A bracketed hop
    // without a port (`X-Forwarded-For: [::ffff:1.2.3.4]`) comes back as
    // the IPv6-mapped form; admission canonicalizes again, so only logs and
    // the spooled client_ip differ. See README.md, "Findings".

    // Standard Webhooks round trip on this body, on the verifying source.
    if let Some(sw) = runtime.sources.get("sw") {
        let mut signed = HeaderMap::new();
        signed.insert("webhook-id", HeaderValue::from_static("msg_fuzz_roundtrip"));
        signed.insert("webhook-timestamp", HeaderValue::from(request.now));
        let signature = SIGNER.sign("msg_fuzz_roundtrip", request.now, raw);
        signed.insert(
            "webhook-signature",
            HeaderValue::from_str(&signature).expect("base64 is a header value"),
        );
        let verdict = sw.verify(&signed, raw, request.now);
        assert!(
            matches!(verdict, Verdict::Accept(_)),
            "signed body refused: {verdict:?}"
        );
        drop(verdict);
        let mut changed = raw.to_vec();
        match changed.first_mut() {
            Some(b) => *b ^= 1,
            None => changed.push(b'x'),
        }
        let verdict = sw.verify(&signed, &changed, request.now);
        assert!(
            matches!(verdict, Verdict::Reject(_)),
            "changed body taken: {verdict:?}"
        );
    }

    // The handler's order: source, address, rate, token, verify, probe, JSON.
    let Some(source) = runtime.sources.get(&request.source) else {
        return;
    };
    if !source.admits(client) {
        return;
    }
    if let Some(limit) = &source.limit {
        let _ = limit.check(client);
    }
    let authentic = source.authenticates(headers);
    // explain runs whatever the token says (it notes a missing one).
    let explained = switchboard::cli::explain::explain(runtime, Some(&request.source), headers, raw);
    if !authentic || raw.len() > runtime.server.max_body {
        return;
    }
    // The claim is dropped at the end, releasing the id, as when the
    // spool refuses a webhook; runs stay independent of each other.
    let _claim = match source.verify(headers, raw, request.now) {
        Verdict::Accept(claim) => claim,
        Verdict::Replay => panic!("a replay with no id kept"),
        Verdict::Reject(reason) => {
            assert!(!reason.is_empty());
            return;
        }
    };
    if is_probe_body(raw) {
        return;
    }
    let strict = switchboard::ingress::json::parse(raw);
    let lenient = serde_json::from_slice::<serde_json::Value>(raw);
    let doc = match (strict, lenient) {
        (Ok(doc), Ok(same)) => {
            assert_eq!(doc, same, "strict and serde_json parse differently");
            doc
        }
        (Ok(doc), Err(e)) => panic!("strict parse took what serde_json refuses ({e}): {doc}"),
        (Err(_), _) => return,
    };
    let accepted = switchboard::ingress::render::route(runtime, source, headers, raw, &doc);
    let chosen = accepted.deliveries.len() + accepted.failed.len();
    if let Ok(explanation) = explained {
        // Same payload, same routes, same targets.
        assert_eq!(
            explanation.deliveries.len(),
            chosen,
            "explain and accept disagree on {}",
            String::from_utf8_lossy(raw)
        );
        let _ = serde_json::to_string(&explanation);
    }
}
