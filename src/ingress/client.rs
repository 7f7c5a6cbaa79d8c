//! Who sent a request: the socket peer, or the client a trusted proxy names
//! in the one forwarding header `server.client_ip_header` says it sets.
//!
//! A pure function of the peer, the headers and the config; must not decide
//! whether the client may send (that is the source's `allow`).

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use ipnet::IpNet;

use crate::config::ClientIpHeader;

/// A trusted proxy's client-address header that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {header} header from trusted proxy {proxy} does not name a client address")]
pub struct Unreadable {
    /// The header's name.
    pub header: &'static str,
    /// The proxy that sent it.
    pub proxy: IpAddr,
}

/// The client's address. The socket peer, unless the peer is a trusted
/// proxy: then the one configured header (`which`) is read, and every other
/// forwarding header is ignored, since a proxy that sets one header usually
/// passes the others through from the client. `X-Forwarded-For` and
/// `Forwarded` are read right to left past trusted proxies, and the first
/// untrusted address is the client; `X-Real-IP` holds just the client. An
/// entry that is not an address (`unknown`, `_hidden`, garbage) is an error,
/// never the proxy's own address: the request is refused. A trusted peer
/// that sends no such header is itself the client.
pub fn client_ip(
    peer: IpAddr,
    headers: &HeaderMap,
    trusted: &[IpNet],
    which: ClientIpHeader,
) -> Result<IpAddr, Unreadable> {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    let peer = peer.to_canonical();
    if !is_trusted(&peer) {
        return Ok(peer);
    }
    let (name, parse): (&'static str, fn(&str) -> Option<IpAddr>) = match which {
        ClientIpHeader::XForwardedFor => ("X-Forwarded-For", parse_hop),
        ClientIpHeader::Forwarded => ("Forwarded", forwarded_for),
        ClientIpHeader::XRealIp => ("X-Real-IP", parse_hop),
    };
    let unreadable = Unreadable {
        header: name,
        proxy: peer,
    };
    let mut hops = Vec::new();
    for value in headers.get_all(name) {
        let text = value.to_str().map_err(|_| unreadable.clone())?;
        for entry in text.split(',') {
            hops.push(parse(entry).ok_or_else(|| unreadable.clone())?);
        }
    }
    if which == ClientIpHeader::XRealIp {
        // One address, written by the proxy; several are a forgery or a
        // misconfigured chain, and neither can be believed.
        return match hops[..] {
            [] => Ok(peer),
            [client] => Ok(client),
            _ => Err(unreadable),
        };
    }
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        if !is_trusted(&hop) {
            return Ok(hop);
        }
        client = hop;
    }
    Ok(client)
}

/// The `for=` of one `Forwarded` element; `None` when it has none or it
/// is not an address (`unknown`, an obfuscated `_name`).
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element
        .split(';')
        .find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            key.trim().eq_ignore_ascii_case("for").then(|| value.trim())
        })
        .and_then(parse_hop)
}

/// `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`, quoted or not.
fn parse_hop(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_matches('"');
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = t.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    t.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests;
