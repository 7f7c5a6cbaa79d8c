//! `server.tracing` compiled: where spans go, with which headers, which
//! share of traces, under which service name.
//!
//! Config to settings only; reads the `OTEL_*` variables from the
//! environment it is given, never the process's. Sends nothing.

use std::time::Duration;

use http::HeaderMap;
use url::Url;

use crate::config::TracingConfig;
use crate::config::interpolate::{self, Env};
use crate::config::problems::Problems;
use crate::config::units;

/// Tracing is on: these are its settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where spans are posted (`…/v1/traces`).
    pub endpoint: Url,
    /// Sent with every export; values marked sensitive.
    pub headers: HeaderMap,
    /// The share of new traces sampled, 0 to 1.
    pub sample_ratio: f64,
    /// The spans' `service.name`.
    pub service_name: String,
    /// How long spans wait to be sent together.
    pub batch_delay: Duration,
}

/// Where the OTLP path goes on an endpoint given as a base.
const TRACES_PATH: &str = "v1/traces";

/// Compiles `server.tracing`; `None` (with problems pushed) if invalid.
pub fn compile(cfg: &TracingConfig, env: &Env, problems: &mut Problems) -> Option<Settings> {
    let place = "server.tracing";
    let before = problems.clone();
    let endpoint = endpoint(cfg, env, problems);
    let headers = crate::dispatch::target::header_map(
        &cfg.headers,
        env,
        &format!("{place}.headers"),
        problems,
    );
    if !(0.0..=1.0).contains(&cfg.sample_ratio) {
        problems.push(
            format!("{place}.sample_ratio"),
            None,
            "must be from 0 to 1 (e.g. 0.1 exports one trace in ten)",
        );
    }
    let batch_delay = units::duration(&cfg.batch_delay.value)
        .map_err(|e| {
            let at = Some(&cfg.batch_delay.referenced);
            problems.push(format!("{place}.batch_delay"), at, e)
        })
        .ok();
    let service_name = cfg
        .service_name
        .clone()
        .or_else(|| env.var("OTEL_SERVICE_NAME").map(str::to_owned))
        .unwrap_or_else(|| "switchboard".to_owned());
    if *problems != before {
        return None;
    }
    Some(Settings {
        endpoint: endpoint?,
        headers,
        sample_ratio: cfg.sample_ratio,
        service_name,
        batch_delay: batch_delay?,
    })
}

/// The URL spans are posted to: `endpoint` (or the standard variables)
/// with `/v1/traces` unless it ends so already.
fn endpoint(cfg: &TracingConfig, env: &Env, problems: &mut Problems) -> Option<Url> {
    let place = "server.tracing.endpoint";
    let (text, at) = match &cfg.endpoint {
        Some(written) => match interpolate::resolve(&written.value, env) {
            Ok(text) => (text, Some(&written.referenced)),
            Err(e) => {
                problems.push(place, Some(&written.referenced), e);
                return None;
            }
        },
        None => match env
            .var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            .or_else(|| env.var("OTEL_EXPORTER_OTLP_ENDPOINT"))
        {
            Some(text) => (text.to_owned(), None),
            None if env.is_stand_in() => (format!("http://{}:4318", interpolate::STAND_IN), None),
            None => {
                problems.push(place, None, "no endpoint: set it (e.g. http://otel-collector:4318) or OTEL_EXPORTER_OTLP_ENDPOINT");
                return None;
            }
        },
    };
    let signal_specific =
        cfg.endpoint.is_none() && env.var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
    let mut url = match Url::parse(&text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => url,
        Ok(url) => {
            problems.push(
                place,
                at,
                format!("scheme `{}` is not http or https", url.scheme()),
            );
            return None;
        }
        Err(e) => {
            problems.push(
                place,
                at,
                format!("not a valid URL ({e}); e.g. http://otel-collector:4318"),
            );
            return None;
        }
    };
    if !signal_specific && !url.path().ends_with(TRACES_PATH) {
        let path = format!("{}/{TRACES_PATH}", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(yaml_endpoint: Option<&str>, vars: &[(&str, &str)]) -> Result<Settings, String> {
        let cfg = TracingConfig {
            endpoint: yaml_endpoint.map(crate::config::located),
            headers: Default::default(),
            sample_ratio: 1.0,
            service_name: None,
            batch_delay: crate::config::located("1s"),
        };
        let env: Env = vars.iter().copied().collect();
        let mut problems = Problems::default();
        compile(&cfg, &env, &mut problems).ok_or_else(|| problems.to_string())
    }

    #[test]
    fn the_endpoint_gets_the_traces_path() {
        for (written, want) in [
            ("http://collector:4318", "http://collector:4318/v1/traces"),
            ("http://collector:4318/", "http://collector:4318/v1/traces"),
            ("https://x.example/otlp", "https://x.example/otlp/v1/traces"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
        ] {
            assert_eq!(
                settings(Some(written), &[]).unwrap().endpoint.as_str(),
                want
            );
        }
    }

    #[test]
    fn the_endpoint_comes_from_the_standard_variables() {
        let base = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://base:4318")];
        assert_eq!(
            settings(None, &base).unwrap().endpoint.as_str(),
            "http://base:4318/v1/traces"
        );
        let own = [(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://own:4318/traces",
        )];
        assert_eq!(
            settings(None, &own).unwrap().endpoint.as_str(),
            "http://own:4318/traces"
        );
        let yaml = settings(Some("http://yaml:4318"), &base).unwrap();
        assert_eq!(yaml.endpoint.as_str(), "http://yaml:4318/v1/traces");
        assert_eq!(yaml.service_name, "switchboard");
    }

    #[test]
    fn no_endpoint_is_a_problem() {
        let problem = settings(None, &[]).unwrap_err();
        assert!(
            problem.contains("server.tracing.endpoint: no endpoint"),
            "{problem}"
        );
        let problem = settings(Some("ftp://c"), &[]).unwrap_err();
        assert!(problem.contains("scheme `ftp`"), "{problem}");
    }

    #[test]
    fn a_ratio_outside_0_to_1_is_a_problem() {
        let cfg = TracingConfig {
            endpoint: Some(crate::config::located("http://c:4318")),
            headers: Default::default(),
            sample_ratio: 1.5,
            service_name: None,
            batch_delay: crate::config::located("1s"),
        };
        let mut problems = Problems::default();
        assert!(compile(&cfg, &Env::default(), &mut problems).is_none());
        let problem = problems.to_string();
        assert!(
            problem.contains("server.tracing.sample_ratio: must be from 0 to 1"),
            "{problem}"
        );
    }
}
