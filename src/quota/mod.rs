//! Client quotas, as Kafka has them: per user, client id, and user + client id, each
//! with a default, for `producer_byte_rate`, `consumer_byte_rate`, `request_percentage`
//! and `controller_mutation_rate`; and per client address (KIP-612), with a default,
//! for `connection_creation_rate`. The quotas are cluster metadata (every shard reads
//! them in its snapshot); what clients used of them is the broker's (`sensors`).
//! Connection limits (`max.connections*`) are `server::quotas`'.

pub mod rate;
pub mod sensors;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A quota: what it bounds, and the number Kafka's configs name it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaKind {
    /// Bytes per second a client produces.
    Produce,
    /// Bytes per second a client fetches.
    Fetch,
    /// The share of a shard's time a client's requests take, in percent.
    Request,
    /// Partitions per second a client creates or deletes.
    ControllerMutation,
    /// Connections per second from one address (an IP entity's only quota).
    ConnectionCreation,
}

impl QuotaKind {
    /// The quotas of users and client ids.
    pub const CLIENT: [QuotaKind; 4] = [
        QuotaKind::Produce,
        QuotaKind::Fetch,
        QuotaKind::Request,
        QuotaKind::ControllerMutation,
    ];

    /// The config key that sets it.
    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
            QuotaKind::ControllerMutation => "controller_mutation_rate",
            QuotaKind::ConnectionCreation => "connection_creation_rate",
        }
    }

    /// The quota `key` names for an IP entity (`ip`) or a user / client-id one.
    pub fn from_key(key: &str, ip: bool) -> Option<QuotaKind> {
        match ip {
            true => (key == QuotaKind::ConnectionCreation.key())
                .then_some(QuotaKind::ConnectionCreation),
            false => QuotaKind::CLIENT.into_iter().find(|kind| kind.key() == key),
        }
    }

    /// Kafka's byte rates are LONG configs and the connection rate an INT: a quota for
    /// them must be a whole number.
    pub fn whole(self) -> bool {
        matches!(
            self,
            QuotaKind::Produce | QuotaKind::Fetch | QuotaKind::ConnectionCreation
        )
    }

    /// The `type` of Kafka's quota beans (`kafka.server:type=Produce,...`).
    pub fn bean(self) -> &'static str {
        match self {
            QuotaKind::Produce => "produce",
            QuotaKind::Fetch => "fetch",
            QuotaKind::Request => "request",
            QuotaKind::ControllerMutation => "controllermutation",
            QuotaKind::ConnectionCreation => "connectioncreation",
        }
    }
}

/// One part of a quota entity: the default for every name, or one name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    /// As the protocol carries it: null for the default.
    pub fn from_wire(name: Option<&str>) -> EntityName {
        match name {
            None => EntityName::Default,
            Some(name) => EntityName::Named(name.to_string()),
        }
    }

    pub fn to_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Named(name) => Some(name),
        }
    }
}

/// Who a quota is for: a user, a client id, or both; or a client address. Each named
/// or the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QuotaEntity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<EntityName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<EntityName>,
}

/// The entity types the protocol names.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// The most quota entities a cluster holds: each is in every shard's snapshot.
pub const QUOTA_ENTITIES_MAX: usize = 100_000;

/// Every quota set, by entity and key. Values are finite (AlterClientQuotas refuses
/// others), so equality is total.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientQuotas(BTreeMap<QuotaEntity, BTreeMap<String, f64>>);

impl Eq for ClientQuotas {}

/// One quota set (`Some`) or removed (`None`): Kafka's `ClientQuotaRecord`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuotaChange {
    pub entity: QuotaEntity,
    pub key: String,
    pub value: Option<f64>,
}

impl Eq for QuotaChange {}

/// The quota that applies to a client, and the sensor its use is counted on: the
/// names a default stands for are the client's own, so each user (or client id) under
/// a default has its own rate, while a quota of a user alone is shared by all its
/// client ids (Kafka's `DefaultQuotaCallback`).
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub bound: f64,
    pub user: String,
    pub client_id: String,
}

impl ClientQuotas {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&QuotaEntity, &BTreeMap<String, f64>)> {
        self.0.iter()
    }

    pub fn get(&self, entity: &QuotaEntity) -> Option<&BTreeMap<String, f64>> {
        self.0.get(entity)
    }

    /// Every quota, as the changes that set it.
    pub fn changes(&self) -> Vec<QuotaChange> {
        self.0
            .iter()
            .flat_map(|(entity, quotas)| {
                quotas.iter().map(|(key, value)| QuotaChange {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: Some(*value),
                })
            })
            .collect()
    }

    /// `changes` applied in order: an entity left with no quota is gone.
    pub fn apply(&mut self, changes: &[QuotaChange]) {
        for change in changes {
            let quotas = self.0.entry(change.entity.clone()).or_default();
            match change.value {
                Some(value) => quotas.insert(change.key.clone(), value),
                None => quotas.remove(&change.key),
            };
            if quotas.is_empty() {
                self.0.remove(&change.entity);
            }
        }
    }

    /// The quota of `kind` for a client that logged in as `user` (the principal's
    /// name, "ANONYMOUS" without a login) with `client_id`, taken from the most precise
    /// entity that sets it, in Kafka's order: user and client id, user and default
    /// client id, user; default user and client id, default user and default client id,
    /// default user; client id, default client id.
    pub fn applied(&self, kind: QuotaKind, user: &str, client_id: &str) -> Option<Applied> {
        if self.0.is_empty() {
            return None;
        }
        let named = |name: &str| Some(EntityName::Named(name.to_string()));
        let default = || Some(EntityName::Default);
        // Each entity, with whether the sensor is the user's and the client id's.
        let order = [
            (named(user), named(client_id), true, true),
            (named(user), default(), true, true),
            (named(user), None, true, false),
            (default(), named(client_id), true, true),
            (default(), default(), true, true),
            (default(), None, true, false),
            (None, named(client_id), false, true),
            (None, default(), false, true),
        ];
        order.into_iter().find_map(|(u, c, by_user, by_client)| {
            let entity = QuotaEntity {
                user: u,
                client_id: c,
                ip: None,
            };
            let bound = *self.0.get(&entity)?.get(kind.key())?;
            Some(Applied {
                bound,
                user: if by_user {
                    user.to_string()
                } else {
                    String::new()
                },
                client_id: if by_client {
                    client_id.to_string()
                } else {
                    String::new()
                },
            })
        })
    }
}

impl ClientQuotas {
    /// The connection rate quota of a client address: its own, else the default
    /// address's. Each address has its own rate (the sensor is named by the address).
    pub fn applied_ip(&self, ip: &str) -> Option<Applied> {
        if self.0.is_empty() {
            return None;
        }
        let key = QuotaKind::ConnectionCreation.key();
        [EntityName::Named(ip.to_string()), EntityName::Default]
            .into_iter()
            .find_map(|name| {
                let entity = QuotaEntity {
                    ip: Some(name),
                    ..QuotaEntity::default()
                };
                let bound = *self.0.get(&entity)?.get(key)?;
                Some(Applied {
                    bound,
                    user: ip.to_string(),
                    client_id: String::new(),
                })
            })
    }
}

/// Stored as a list of entities with their quotas (a JSON map's keys are strings).
#[derive(Serialize, Deserialize)]
struct Entry {
    entity: QuotaEntity,
    quotas: BTreeMap<String, f64>,
}

impl Serialize for ClientQuotas {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(entity, quotas)| Entry {
            entity: entity.clone(),
            quotas: quotas.clone(),
        }))
    }
}

impl<'de> Deserialize<'de> for ClientQuotas {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<Entry>::deserialize(deserializer)?;
        Ok(ClientQuotas(
            entries.into_iter().map(|e| (e.entity, e.quotas)).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        let name = |n: Option<&str>| EntityName::from_wire(n);
        QuotaEntity {
            user: user.map(name),
            client_id: client.map(name),
            ip: None,
        }
    }

    fn set(quotas: &mut ClientQuotas, entity: QuotaEntity, value: f64) {
        quotas.apply(&[QuotaChange {
            entity,
            key: "producer_byte_rate".into(),
            value: Some(value),
        }]);
    }

    #[test]
    fn the_most_precise_entity_applies_in_kafkas_order() {
        let mut quotas = ClientQuotas::default();
        let applied = |q: &ClientQuotas, user, client| {
            q.applied(QuotaKind::Produce, user, client)
                .map(|a| (a.bound, a.user, a.client_id))
        };
        assert_eq!(applied(&quotas, "alice", "c"), None);
        set(&mut quotas, entity(None, Some(None)), 8.0);
        assert_eq!(
            applied(&quotas, "alice", "c"),
            Some((8.0, "".into(), "c".into()))
        );
        set(&mut quotas, entity(None, Some(Some("c"))), 7.0);
        assert_eq!(
            applied(&quotas, "alice", "c"),
            Some((7.0, "".into(), "c".into()))
        );
        set(&mut quotas, entity(Some(None), None), 6.0);
        assert_eq!(
            applied(&quotas, "alice", "c"),
            Some((6.0, "alice".into(), "".into()))
        );
        set(&mut quotas, entity(Some(None), Some(None)), 5.0);
        assert_eq!(
            applied(&quotas, "alice", "c"),
            Some((5.0, "alice".into(), "c".into()))
        );
        set(&mut quotas, entity(Some(None), Some(Some("c"))), 4.0);
        assert_eq!(applied(&quotas, "alice", "c").unwrap().0, 4.0);
        set(&mut quotas, entity(Some(Some("alice")), None), 3.0);
        assert_eq!(
            applied(&quotas, "alice", "c"),
            Some((3.0, "alice".into(), "".into()))
        );
        set(&mut quotas, entity(Some(Some("alice")), Some(None)), 2.0);
        assert_eq!(applied(&quotas, "alice", "c").unwrap().0, 2.0);
        set(
            &mut quotas,
            entity(Some(Some("alice")), Some(Some("c"))),
            1.0,
        );
        assert_eq!(applied(&quotas, "alice", "c").unwrap().0, 1.0);
        // Another user falls to the defaults; another kind has none.
        assert_eq!(applied(&quotas, "bob", "d").unwrap().0, 5.0);
        assert_eq!(quotas.applied(QuotaKind::Fetch, "alice", "c"), None);
        // An address: its own, else the default; never a user's.
        assert_eq!(quotas.applied_ip("10.0.0.1"), None);
        let ip = |name: Option<&str>| QuotaEntity {
            ip: Some(EntityName::from_wire(name)),
            ..QuotaEntity::default()
        };
        let rate = |entity, value| QuotaChange {
            entity,
            key: "connection_creation_rate".into(),
            value: Some(value),
        };
        quotas.apply(&[rate(ip(None), 10.0), rate(ip(Some("10.0.0.1")), 2.0)]);
        assert_eq!(quotas.applied_ip("10.0.0.1").unwrap().bound, 2.0);
        let other = quotas.applied_ip("10.0.0.2").unwrap();
        assert_eq!((other.bound, other.user.as_str()), (10.0, "10.0.0.2"));
        assert_eq!(applied(&quotas, "alice", "c").unwrap().0, 1.0);
    }

    #[test]
    fn removing_the_last_quota_removes_the_entity_and_the_file_form_round_trips() {
        let mut quotas = ClientQuotas::default();
        let e = entity(Some(Some("a,b=c")), Some(None));
        set(&mut quotas, e.clone(), 1024.0);
        let json = serde_json::to_string(&quotas).unwrap();
        assert_eq!(serde_json::from_str::<ClientQuotas>(&json).unwrap(), quotas);
        quotas.apply(&[QuotaChange {
            entity: e,
            key: "producer_byte_rate".into(),
            value: None,
        }]);
        assert!(quotas.is_empty());
    }
}
