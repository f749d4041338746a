//! cert-operator's own metrics, served next to operatorkit's: certificates
//! issued and renewed, backend errors, and every certificate's expiry time
//! (so an alert can fire before one expires).

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

/// The metrics of cert-operator. Clones share the series.
#[derive(Clone, Debug)]
pub struct CertMetrics {
    issued: IntCounterVec,
    renewed: IntCounterVec,
    backend_errors: IntCounterVec,
    expiry: GaugeVec,
}

impl CertMetrics {
    /// The metrics (not yet registered).
    pub fn new() -> Result<Self, prometheus::Error> {
        Ok(Self {
            issued: IntCounterVec::new(
                Opts::new(
                    "cert_operator_certificates_issued_total",
                    "Certificates issued for a new or changed CertConfig.",
                ),
                &["backend"],
            )?,
            renewed: IntCounterVec::new(
                Opts::new(
                    "cert_operator_certificates_renewed_total",
                    "Certificates re-issued because they neared expiry.",
                ),
                &["backend"],
            )?,
            backend_errors: IntCounterVec::new(
                Opts::new(
                    "cert_operator_backend_errors_total",
                    "Failed requests to the certificate backend.",
                ),
                &["backend"],
            )?,
            expiry: GaugeVec::new(
                Opts::new(
                    "cert_operator_certificate_expiry_timestamp_seconds",
                    "When each certificate expires (notAfter), in unix seconds.",
                ),
                &["namespace", "certconfig"],
            )?,
        })
    }

    /// Registers every series in `registry`, with zeroes for `backend`.
    pub fn register(&self, registry: &Registry, backend: &str) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.issued.clone()))?;
        registry.register(Box::new(self.renewed.clone()))?;
        registry.register(Box::new(self.backend_errors.clone()))?;
        registry.register(Box::new(self.expiry.clone()))?;
        for c in [&self.issued, &self.renewed, &self.backend_errors] {
            c.with_label_values(&[backend]).inc_by(0);
        }
        Ok(())
    }

    /// A certificate was issued (`renewal`: because it neared expiry).
    pub fn issued(&self, backend: &str, renewal: bool) {
        let c = if renewal { &self.renewed } else { &self.issued };
        c.with_label_values(&[backend]).inc();
    }

    /// The backend failed a request.
    pub fn backend_error(&self, backend: &str) {
        self.backend_errors.with_label_values(&[backend]).inc();
    }

    /// The certificate of `namespace/certconfig` expires at `not_after`.
    pub fn set_expiry(&self, namespace: &str, certconfig: &str, not_after: i64) {
        // Unix seconds fit an f64 exactly until the year 285 million.
        #[allow(clippy::cast_precision_loss)]
        let seconds = not_after as f64;
        self.expiry
            .with_label_values(&[namespace, certconfig])
            .set(seconds);
    }

    /// The CertConfig is gone: so is its expiry series.
    pub fn forget(&self, namespace: &str, certconfig: &str) {
        let _ = self.expiry.remove_label_values(&[namespace, certconfig]);
    }
}
