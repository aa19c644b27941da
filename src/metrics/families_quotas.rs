//! Client quotas' families, as the JMX exporter names Kafka's quota beans
//! (`kafka.server:type=Produce|Fetch|Request|ControllerMutation,user=...,client-id=...`): per sensor, the
//! rate it measures and the mean throttle time handed out, both over the quota windows.
//! A sensor exists only for a client a quota applies to, so an unquoted broker exports
//! none.

use prometheus::proto::{MetricFamily, MetricType};

use super::{family, gauge};
use crate::quota::sensors::SensorSample;
use crate::quota::QuotaKind;

pub fn quota_families(sensors: &[SensorSample]) -> Vec<MetricFamily> {
    let mut families = Vec::new();
    for kind in QuotaKind::CLIENT {
        let (mut rate, mut throttle) = (vec![], vec![]);
        for s in sensors.iter().filter(|s| s.kind == kind) {
            let labels = [
                ("user", s.user.as_str()),
                ("client_id", s.client_id.as_str()),
            ];
            rate.push(gauge(&labels, s.rate));
            throttle.push(gauge(&labels, s.throttle_time_ms));
        }
        if rate.is_empty() {
            continue;
        }
        let bean = kind.bean();
        let (attribute, what) = match kind {
            QuotaKind::Request => (
                "request_time",
                "Percent of a shard's time the client's requests took",
            ),
            QuotaKind::ControllerMutation => (
                "rate",
                "Partitions per second the client created or deleted",
            ),
            _ => ("byte_rate", "Bytes per second the client sent or fetched"),
        };
        families.push(family(
            &format!("kafka_server_{bean}_{attribute}"),
            &format!("{what}, over the quota windows (the client's quota sensor)"),
            MetricType::GAUGE,
            rate,
        ));
        families.push(family(
            &format!("kafka_server_{bean}_throttle_time"),
            "Mean throttle time in ms handed to the client over the quota windows",
            MetricType::GAUGE,
            throttle,
        ));
    }
    families
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_rate_and_throttle_families_and_none_without_sensors() {
        assert!(quota_families(&[]).is_empty());
        let sensor = SensorSample {
            kind: QuotaKind::Produce,
            user: "alice".into(),
            client_id: String::new(),
            rate: 2048.0,
            throttle_time_ms: 15.0,
            bound: 1024.0,
        };
        let text = super::super::encode(&quota_families(&[sensor]));
        assert!(
            text.contains("kafka_server_produce_byte_rate{user=\"alice\",client_id=\"\"} 2048"),
            "{text}"
        );
        assert!(
            text.contains("kafka_server_produce_throttle_time{user=\"alice\",client_id=\"\"} 15"),
            "{text}"
        );
        assert!(!text.contains("kafka_server_fetch"));
    }
}
