//! The `[telemetry]` section: where traces go when the standard
//! OpenTelemetry variables do not say (see `telemetry/trace/export.rs`).
//! Read at start-up only.

use crate::telemetry::trace::export::Settings;
use serde::Deserialize;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTelemetry {
    otlp_endpoint: Option<String>,
    service_name: Option<String>,
}

impl RawTelemetry {
    /// Check that the endpoint is an `http://` or `https://` URL and the
    /// service name is not empty.
    pub(super) fn resolve(self) -> Result<Settings, String> {
        if let Some(url) = &self.otlp_endpoint {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| format!("`otlp_endpoint` = {url:?} is not a URL: {e}"))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
                return Err(format!(
                    "`otlp_endpoint` = {url:?} must be an http:// or https:// URL \
                     (the collector's OTLP/HTTP address, like http://127.0.0.1:4318)"
                ));
            }
        }
        if self
            .service_name
            .as_deref()
            .is_some_and(|n| n.trim().is_empty())
        {
            return Err("`service_name` is empty".into());
        }
        Ok(Settings {
            otlp_endpoint: self.otlp_endpoint,
            service_name: self.service_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<Settings, String> {
        toml::from_str::<RawTelemetry>(text).unwrap().resolve()
    }

    #[test]
    fn nothing_set_means_no_endpoint() {
        assert_eq!(resolve("").unwrap(), Settings::default());
    }

    #[test]
    fn an_http_endpoint_and_a_name_are_kept() {
        let settings =
            resolve("otlp_endpoint = \"http://collector:4318\"\nservice_name = \"edge\"").unwrap();
        assert_eq!(
            settings.otlp_endpoint.as_deref(),
            Some("http://collector:4318")
        );
        assert_eq!(settings.service_name.as_deref(), Some("edge"));
    }

    #[test]
    fn bad_endpoints_and_names_are_refused() {
        for (text, needle) in [
            (
                "otlp_endpoint = \"collector:4318\"",
                "must be an http:// or https:// URL",
            ),
            (
                "otlp_endpoint = \"grpc://collector:4317\"",
                "must be an http:// or https:// URL",
            ),
            ("otlp_endpoint = \"http://bad host\"", "is not a URL"),
            ("service_name = \" \"", "`service_name` is empty"),
        ] {
            let error = resolve(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
