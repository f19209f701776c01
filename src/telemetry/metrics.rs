//! CloudWatch metrics as Embedded Metric Format log lines: no API calls, no extra latency.

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "OktaIngest";

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A number of things.
    Count,
    /// Milliseconds.
    Milliseconds,
    /// Seconds.
    Seconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
            Unit::Seconds => "Seconds",
        }
    }
}

/// One invocation's metrics, written as one EMF line.
#[derive(Debug, Default)]
pub struct Metrics {
    values: Vec<(&'static str, Unit, Value)>,
}

impl Metrics {
    /// A count.
    pub fn count(&mut self, name: &'static str, n: impl TryInto<u64>) -> &mut Self {
        let n: u64 = n.try_into().unwrap_or(u64::MAX);
        self.values.push((name, Unit::Count, json!(n)));
        self
    }

    /// Several observations of one metric (CloudWatch computes percentiles from them).
    pub fn values(&mut self, name: &'static str, unit: Unit, values: &[u64]) -> &mut Self {
        if !values.is_empty() {
            self.values.push((name, unit, json!(values)));
        }
        self
    }

    /// One observation.
    pub fn value(&mut self, name: &'static str, unit: Unit, value: u64) -> &mut Self {
        self.values.push((name, unit, json!(value)));
        self
    }

    /// The EMF document for `function` at `timestamp_ms`.
    pub fn document(&self, function: &str, timestamp_ms: i64) -> Value {
        let mut root = Map::new();
        let definitions: Vec<Value> = self
            .values
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }]
            }),
        );
        root.insert("FunctionName".into(), json!(function));
        for (name, _, value) in &self.values {
            root.insert((*name).into(), value.clone());
        }
        Value::Object(root)
    }

    /// Writes the line to stdout, where Lambda hands it to CloudWatch Logs, which extracts
    /// the metrics.
    pub fn emit(&self) {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".into());
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        println!("{}", self.document(&function, now_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_embedded_metric_format() {
        let mut m = Metrics::default();
        m.count("EventsForwarded", 3u32)
            .values("DeliveryLatency", Unit::Milliseconds, &[120, 80])
            .values("Nothing", Unit::Count, &[])
            .count("DestinationErrors429", 2usize);
        let doc = m.document("okta-push-fn", 1_700_000_000_000);
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "OktaIngest");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        let names: Vec<&str> = directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 3, "empty value lists are left out: {names:?}");
        assert_eq!(
            directive["Metrics"][1],
            json!({"Name": "DeliveryLatency", "Unit": "Milliseconds"})
        );
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(doc["FunctionName"], "okta-push-fn");
        assert_eq!(doc["EventsForwarded"], 3);
        assert_eq!(doc["DeliveryLatency"], json!([120, 80]));
        assert_eq!(doc["DestinationErrors429"], 2);
    }
}
