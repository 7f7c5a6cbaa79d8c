//! The client address behind a trusted proxy: exactly one configured header
//! is read, every other is ignored, and an unreadable entry is refused. Over
//! a loopback peer in `trusted_proxies`, and through a real nginx running
//! the shipped `deploy/nginx/switchboard.conf` location block.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{FakeTarget, TestRelay, WAIT, fixture};

/// Two sources: `sipgate` stands in for a sender at 10.1.2.3 (an address
/// no test connects from), `local` admits the loopback client 127.0.0.2.
fn config(url: &str, server_extra: &str) -> String {
    format!(
        "server:\n  trusted_proxies: [127.0.0.1]\n{server_extra}sources:\n  sipgate:\n    allow: [10.1.2.3]\n  local:\n    allow: [127.0.0.2]\ntargets:\n  t: {{url: \"{url}\"}}\nroutes:\n  - to: [t]\n"
    )
}

/// POSTs a fixture to `url` with these headers; the status and error text.
async fn post(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = client
        .post(url)
        .header("content-type", "application/json")
        .body(fixture("minimal.json"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn only_the_configured_header_is_believed_from_a_trusted_proxy() {
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    let hook = relay.hook("sipgate");
    let c = &relay.client;
    // The default header, x-forwarded-for, names the client.
    assert_eq!(
        post(c, &hook, &[("x-forwarded-for", "10.1.2.3")]).await.0,
        202
    );
    // Forwarded and X-Real-IP are ignored: the client is the proxy itself.
    for header in ["forwarded", "x-real-ip"] {
        let value = if header == "forwarded" {
            "for=10.1.2.3"
        } else {
            "10.1.2.3"
        };
        let (status, text) = post(c, &hook, &[(header, value)]).await;
        assert_eq!(status, 403, "{header}: {text}");
        let (status, text) = post(
            c,
            &hook,
            &[(header, value), ("x-forwarded-for", "198.51.100.7")],
        )
        .await;
        assert_eq!(status, 403, "{header} beside x-forwarded-for: {text}");
    }
    // An entry that is not an address is refused, never read as the proxy.
    for garbage in ["unknown", "10.1.2.3, _hidden", ""] {
        let (status, text) = post(c, &hook, &[("x-forwarded-for", garbage)]).await;
        assert_eq!(status, 403, "{garbage:?}");
        assert!(text.contains("could not be read"), "{text}");
    }
    target.wait_for(1, WAIT).await;
    target.assert_quiet(1, Duration::from_millis(200)).await;

    // `forwarded` configured: now it is the one header read.
    let forwarded = TestRelay::start(&config(
        &target.url("/t"),
        "  client_ip_header: forwarded\n",
    ))
    .await;
    let hook = forwarded.hook("sipgate");
    let c = &forwarded.client;
    assert_eq!(
        post(c, &hook, &[("forwarded", "for=10.1.2.3;proto=https")])
            .await
            .0,
        202
    );
    assert_eq!(
        post(c, &hook, &[("x-forwarded-for", "10.1.2.3")]).await.0,
        403
    );
    for garbage in ["for=unknown", "for=_hidden", "proto=https"] {
        assert_eq!(post(c, &hook, &[("forwarded", garbage)]).await.0, 403);
    }

    let real_ip = TestRelay::start(&config(
        &target.url("/t"),
        "  client_ip_header: x-real-ip\n",
    ))
    .await;
    let hook = real_ip.hook("sipgate");
    let c = &real_ip.client;
    assert_eq!(post(c, &hook, &[("x-real-ip", "10.1.2.3")]).await.0, 202);
    assert_eq!(
        post(c, &hook, &[("x-real-ip", "10.1.2.3, 127.0.0.9")])
            .await
            .0,
        403
    );
    assert_eq!(
        post(c, &hook, &[("forwarded", "for=10.1.2.3")]).await.0,
        403
    );
    target.wait_for(3, WAIT).await;
}

#[tokio::test]
async fn a_bad_client_ip_header_setting_is_a_config_error() {
    let yaml = "server:\n  client_ip_header: x-client\nsources:\n  s: {}\ntargets:\n  t: {url: \"http://127.0.0.1:1/\"}\nroutes:\n  - to: [t]\n";
    let error = switchboard::config::Config::parse(yaml).err().unwrap();
    let text = error.to_string();
    assert!(text.contains("x-client"), "{text}");
    assert!(text.contains("x-forwarded-for"), "{text}");
}

// ---- through a real nginx ----------------------------------------------------------------

/// The nginx binary, or `None` (with a message) outside CI where it is not
/// installed. In CI (`CI` set) it must be there: scripts/test installs it.
fn nginx() -> Option<PathBuf> {
    let found = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is not installed; scripts/test installs it (Debian package nginx-light)"
        );
        eprintln!("skipped: nginx is not installed (apt-get install nginx-light)");
    }
    found
}

fn shipped_conf() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/switchboard.conf");
    std::fs::read_to_string(path).unwrap()
}

/// The shipped `location /hooks/ { ... }` block, verbatim.
fn hooks_location(conf: &str) -> String {
    let start = conf.find("    location /hooks/ {").unwrap();
    let end = start + conf[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    conf[start..end].to_owned()
}

/// An nginx prefix directory with this `http { ... }` body.
fn prefix(dir: &Path, http: &str) -> PathBuf {
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(prefix.join("tmp")).unwrap();
    let conf = format!(
        "daemon off;\nmaster_process off;\npid nginx.pid;\nerror_log stderr warn;\nevents {{ worker_connections 64; }}\nhttp {{\n  access_log off;\n  client_body_temp_path tmp/body;\n  proxy_temp_path tmp/proxy;\n  fastcgi_temp_path tmp/fastcgi;\n  uwsgi_temp_path tmp/uwsgi;\n  scgi_temp_path tmp/scgi;\n{http}\n}}\n"
    );
    std::fs::write(prefix.join("nginx.conf"), conf).unwrap();
    prefix
}

#[test]
fn the_shipped_nginx_example_passes_nginx_t() {
    let Some(nginx) = nginx() else { return };
    let dir = tempfile::tempdir().unwrap();
    // The example names certificate files; make throwaway ones in their place.
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=hooks.example.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success(), "openssl could not make a test certificate");
    let conf = shipped_conf()
        .replace(
            "/etc/ssl/certs/hooks.example.com.pem",
            cert.to_str().unwrap(),
        )
        .replace(
            "/etc/ssl/private/hooks.example.com.key",
            key.to_str().unwrap(),
        );
    let prefix = prefix(dir.path(), &conf);
    let out = Command::new(&nginx)
        .arg("-t")
        .arg("-p")
        .arg(&prefix)
        .args(["-e", "stderr", "-c", "nginx.conf"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "nginx -t failed:\n{text}");
    assert!(!text.contains("[warn]"), "nginx -t warned:\n{text}");
}

/// nginx, stopped (by its PID) when the test ends.
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free loopback port for nginx (which cannot be told to take port 0).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn spoofed_headers_through_the_shipped_nginx_config_are_refused() {
    let Some(nginx) = nginx() else { return };
    let target = FakeTarget::start().await;
    let relay = TestRelay::start(&config(&target.url("/t"), "")).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = format!(
        "upstream switchboard {{ server {}; keepalive 4; }}\nserver {{\n    listen 127.0.0.1:{port};\n{}}}\n",
        relay.relay.local_addr(),
        hooks_location(&shipped_conf()),
    );
    let prefix = prefix(dir.path(), &http);
    let child = Command::new(&nginx)
        .arg("-p")
        .arg(&prefix)
        .args(["-e", "stderr", "-c", "nginx.conf"])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let _nginx = Nginx(child);
    let front: SocketAddr = ([127, 0, 0, 1], port).into();
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(front).await.is_err() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("nginx did not start listening");

    // The client connects from 127.0.0.2: not a trusted proxy.
    let client = reqwest::Client::builder()
        .local_address(IpAddr::from([127, 0, 0, 2]))
        .timeout(WAIT)
        .build()
        .unwrap();
    let url = |source: &str| format!("http://{front}/hooks/{source}");
    // Through nginx the real client is seen and admitted...
    assert_eq!(post(&client, &url("local"), &[]).await.0, 202);
    // ...and whatever it claims, it is not 10.1.2.3.
    let attempts: &[&[(&str, &str)]] = &[
        &[("forwarded", "for=10.1.2.3")],
        &[("forwarded", "for=unknown")],
        &[("x-real-ip", "10.1.2.3")],
        &[("x-forwarded-for", "10.1.2.3")],
        &[
            ("forwarded", "for=10.1.2.3"),
            ("x-forwarded-for", "10.1.2.3"),
        ],
    ];
    for headers in attempts {
        let (status, text) = post(&client, &url("sipgate"), headers).await;
        assert_eq!(status, 403, "{headers:?} got through nginx: {text}");
    }
    target.wait_for(1, WAIT).await;
    target.assert_quiet(1, Duration::from_millis(200)).await;
}
