//! The broker keys of SASL logins: the mechanisms offered, the ones brokers and the
//! quorum's nodes log in to each other with, and the delay before a failed login's
//! answer. Rows as
//! `broker_keys`' table.

use super::broker_keys::BrokerKey;
use super::sasl;
use super::value::{invalid, parse_int};
use super::ConfigType;

pub(crate) static LOGIN_KEYS: &[BrokerKey] = &[
    BrokerKey {
        name: "sasl.enabled.mechanisms",
        kind: ConfigType::List,
        dynamic: false,
        apply: |c, k, v| {
            c.sasl_enabled_mechanisms = sasl::parse_mechanisms(k, v)?;
            Ok(())
        },
        render: |c| Some(sasl::render_mechanisms(&c.sasl_enabled_mechanisms)),
    },
    BrokerKey {
        name: "sasl.mechanism.inter.broker.protocol",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.sasl_mechanism_inter_broker = match &sasl::parse_mechanisms(k, v)?[..] {
                [one] => *one,
                _ => return Err(invalid(k, v, "one SASL mechanism")),
            };
            Ok(())
        },
        render: |c| Some(c.sasl_mechanism_inter_broker.name().to_string()),
    },
    BrokerKey {
        name: "sasl.mechanism.controller.protocol",
        kind: ConfigType::String,
        dynamic: false,
        apply: |c, k, v| {
            c.sasl_mechanism_controller = match &sasl::parse_mechanisms(k, v)?[..] {
                [one] => *one,
                _ => return Err(invalid(k, v, "one SASL mechanism")),
            };
            Ok(())
        },
        render: |c| Some(c.sasl_mechanism_controller.name().to_string()),
    },
    BrokerKey {
        name: "connection.failed.authentication.delay.ms",
        kind: ConfigType::Int,
        dynamic: false,
        apply: |c, k, v| {
            c.connection_failed_authentication_delay_ms = parse_int(k, v, 0, i32::MAX)?;
            Ok(())
        },
        render: |c| Some(c.connection_failed_authentication_delay_ms.to_string()),
    },
];
