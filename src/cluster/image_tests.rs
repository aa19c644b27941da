//! Tests of the metadata image: records applied, refused, encoded and decoded.

use super::*;

fn topic_with_partition(image: &mut MetadataImage, id: Uuid) {
    image
        .apply(
            3,
            &MetadataRecord::Topic {
                name: "orders".into(),
                id,
                configs: Default::default(),
            },
        )
        .unwrap();
    let replicas = vec![
        Replica {
            broker: 1,
            shard: 0,
        },
        Replica {
            broker: 2,
            shard: 1,
        },
    ];
    let partition = MetadataRecord::Partition {
        topic: id,
        partition: 0,
        replicas,
        isr: vec![1, 2],
        leader: 1,
    };
    image.apply(4, &partition).unwrap();
}

#[test]
fn a_registration_takes_its_offset_as_epoch_and_starts_fenced() {
    let mut image = MetadataImage::default();
    let register = MetadataRecord::RegisterBroker {
        broker: 1,
        incarnation: Uuid::from_u128(7),
        host: "a".into(),
        port: 9092,
        shards: 2,
        replication_ports: Vec::new(),
        quorum_port: None,
        listeners: Vec::new(),
        rack: None,
    };
    image.apply(5, &register).unwrap();
    assert!(image.is_fenced(1));
    assert!(image
        .apply(
            6,
            &MetadataRecord::UnfenceBroker {
                broker: 1,
                epoch: 4
            }
        )
        .is_err());
    image
        .apply(
            6,
            &MetadataRecord::UnfenceBroker {
                broker: 1,
                epoch: 5,
            },
        )
        .unwrap();
    assert!(!image.is_fenced(1));
    assert_eq!(image.offset, 6);
}

#[test]
fn a_new_leader_starts_a_new_leader_epoch_and_every_change_a_partition_epoch() {
    let mut image = MetadataImage::default();
    let id = Uuid::from_u128(1);
    topic_with_partition(&mut image, id);
    let shrink = MetadataRecord::PartitionChange {
        topic: id,
        partition: 0,
        isr: Some(vec![1]),
        leader: None,
        partition_epoch: None,
    };
    image.apply(5, &shrink).unwrap();
    let p = image.partition(id, 0).unwrap();
    assert_eq!(
        (p.leader_epoch, p.partition_epoch, p.isr.clone()),
        (0, 1, vec![1])
    );
    let elect = MetadataRecord::PartitionChange {
        topic: id,
        partition: 0,
        isr: None,
        leader: Some(2),
        partition_epoch: None,
    };
    image.apply(6, &elect).unwrap();
    let p = image.partition(id, 0).unwrap();
    assert_eq!((p.leader, p.leader_epoch, p.partition_epoch), (2, 1, 2));
}

#[test]
fn records_that_do_not_fit_leave_the_image_as_it_was() {
    let mut image = MetadataImage::default();
    let id = Uuid::from_u128(1);
    topic_with_partition(&mut image, id);
    let before = image.clone();
    for bad in [
        MetadataRecord::Topic {
            name: "orders".into(),
            id: Uuid::from_u128(2),
            configs: Default::default(),
        },
        MetadataRecord::PartitionChange {
            topic: id,
            partition: 9,
            isr: None,
            leader: Some(1),
            partition_epoch: None,
        },
        MetadataRecord::RemoveTopic {
            id: Uuid::from_u128(3),
        },
        MetadataRecord::FenceBroker {
            broker: 4,
            epoch: 0,
        },
    ] {
        let err = image.apply(10, &bad).unwrap_err();
        assert_eq!(err.offset, 10);
        assert_eq!(image, before);
    }
}

#[test]
fn a_batch_applies_whole_or_not_at_all() {
    let mut image = MetadataImage::default();
    let id = Uuid::from_u128(1);
    topic_with_partition(&mut image, id);
    let before = image.clone();
    let half_bad = [
        MetadataRecord::PartitionChange {
            topic: id,
            partition: 0,
            isr: Some(vec![1]),
            leader: None,
            partition_epoch: None,
        },
        MetadataRecord::RemoveTopic {
            id: Uuid::from_u128(3),
        },
    ];
    assert!(image.apply_batch(9, &half_bad).is_err());
    assert_eq!(image, before);
    image.apply_batch(9, &half_bad[..1]).unwrap();
    assert_eq!(
        (image.offset, image.partition(id, 0).unwrap().isr.clone()),
        (9, vec![1])
    );
}

#[test]
fn records_read_back_from_their_bytes() {
    let record = MetadataRecord::PartitionChange {
        topic: Uuid::from_u128(9),
        partition: 3,
        isr: Some(vec![1, 3]),
        leader: Some(3),
        partition_epoch: None,
    };
    let batch = vec![record.clone(), record];
    assert_eq!(decode(&encode(&batch)).unwrap(), batch);
    assert!(decode(b"[{\"type\":\"Nope\"}]").is_err());
}

fn acl(topic: &str) -> AclBinding {
    use crate::acl::{Operation, Permission};
    crate::acl::tests::topic_acl(topic, "User:alice", Operation::Write, Permission::Allow)
}

#[test]
fn acls_are_added_once_in_order_and_removed_when_there() {
    let mut image = MetadataImage::default();
    let add = |acls: Vec<AclBinding>| MetadataRecord::AddAcls { acls };
    image.apply(1, &add(vec![acl("a"), acl("b")])).unwrap();
    image.apply(2, &add(vec![acl("b"), acl("c")])).unwrap();
    assert_eq!(image.acls, vec![acl("a"), acl("b"), acl("c")]);
    let remove = MetadataRecord::RemoveAcls {
        acls: vec![acl("b"), acl("z")],
    };
    image.apply(3, &remove).unwrap();
    assert_eq!(image.acls, vec![acl("a"), acl("c")]);
    // Past the limit, the whole record is refused and the image is as it was.
    image.acls = (0..ACLS_MAX).map(|i| acl(&format!("t{i}"))).collect();
    let before = image.clone();
    assert!(image.apply(4, &add(vec![acl("a"), acl("new")])).is_err());
    assert_eq!(image, before);
    image.apply(4, &add(vec![acl("t0")])).unwrap();
}

#[test]
fn scram_credentials_are_set_and_deleted_and_the_users_bounded() {
    use crate::security::{ScramCredential, ScramMechanism};
    let credential = ScramCredential {
        salt: vec![1],
        stored_key: vec![2],
        server_key: vec![3],
        iterations: 4096,
    };
    let change = |user: &str, mechanism, set: bool| ScramChange {
        user: user.to_string(),
        mechanism,
        credential: set.then(|| credential.clone()),
    };
    let record = |changes| MetadataRecord::ScramCredentials { changes };
    let (sha256, sha512) = (ScramMechanism::Sha256, ScramMechanism::Sha512);
    let mut image = MetadataImage::default();
    let both = vec![change("a", sha256, true), change("a", sha512, true)];
    image.apply(1, &record(both)).unwrap();
    assert_eq!(image.scram["a"].len(), 2);
    image
        .apply(2, &record(vec![change("a", sha256, false)]))
        .unwrap();
    assert_eq!(image.scram["a"].keys().collect::<Vec<_>>(), [&sha512]);
    // A user left without credentials is gone.
    image
        .apply(3, &record(vec![change("a", sha512, false)]))
        .unwrap();
    assert!(image.scram.is_empty());
    // Past the limit, the whole record is refused and the image is as it was.
    for i in 0..SCRAM_USERS_MAX {
        let user = image.scram.entry(format!("u{i}")).or_default();
        user.insert(sha256, credential.clone());
    }
    let before = image.clone();
    let extra = vec![change("u0", sha512, true), change("new", sha256, true)];
    assert!(image.apply(4, &record(extra)).is_err());
    assert_eq!(image, before);
    image
        .apply(4, &record(vec![change("u0", sha512, true)]))
        .unwrap();
}

#[test]
fn group_configs_are_set_and_removed_and_bounded() {
    let mut image = MetadataImage::default();
    let record = |group: &str, value: Option<&str>| MetadataRecord::GroupConfigs {
        group: group.to_string(),
        changes: BTreeMap::from([(
            "consumer.session.timeout.ms".to_string(),
            value.map(str::to_string),
        )]),
    };
    image.apply(1, &record("g", Some("50000"))).unwrap();
    assert_eq!(
        image.group_configs["g"]["consumer.session.timeout.ms"],
        "50000"
    );
    let json = serde_json::to_string(&image).unwrap();
    assert_eq!(serde_json::from_str::<MetadataImage>(&json).unwrap(), image);
    image.apply(2, &record("g", None)).unwrap();
    assert!(
        image.group_configs.is_empty(),
        "a group left with none is forgotten"
    );
    for i in 0..GROUP_CONFIGS_MAX {
        let group = format!("g{i}");
        image
            .group_configs
            .insert(group, BTreeMap::from([("k".to_string(), "v".to_string())]));
    }
    assert!(image.apply(3, &record("one-more", Some("50000"))).is_err());
    assert!(!image.group_configs.contains_key("one-more"));
}

#[test]
fn broker_configs_are_set_and_removed_key_by_key() {
    let mut image = MetadataImage::default();
    let change = |pairs: &[(&str, Option<&str>)]| MetadataRecord::BrokerConfigs {
        broker: None,
        changes: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect(),
    };
    let set = change(&[
        ("log.retention.ms", Some("5000")),
        ("num.partitions", Some("3")),
    ]);
    image.apply(1, &set).unwrap();
    let remove = change(&[("num.partitions", None), ("log.roll.ms", None)]);
    image.apply(2, &remove).unwrap();
    let expected = BTreeMap::from([("log.retention.ms".to_string(), "5000".to_string())]);
    assert_eq!(image.broker_defaults, expected);
    // One broker's own configs sit apart from the defaults, and go when emptied.
    let own = |value: Option<&str>| MetadataRecord::BrokerConfigs {
        broker: Some(2),
        changes: BTreeMap::from([("log.retention.ms".to_string(), value.map(str::to_string))]),
    };
    image.apply(3, &own(Some("7000"))).unwrap();
    assert_eq!(image.broker_configs[&2]["log.retention.ms"], "7000");
    assert_eq!(image.broker_defaults, expected);
    image.apply(4, &own(None)).unwrap();
    assert!(image.broker_configs.is_empty());
    // An image saved before these fields existed reads with none.
    let old = serde_json::json!({"offset": 3, "brokers": {}, "topics": {}, "topic_ids": {}, "next_producer_id": 0});
    let read: MetadataImage = serde_json::from_value(old).unwrap();
    assert!(read.acls.is_empty() && read.broker_defaults.is_empty());
    assert!(read.broker_configs.is_empty());
}

#[test]
fn a_controller_registers_where_its_peers_reach_it_under_a_node_id() {
    let mut image = MetadataImage::default();
    let record = |node| MetadataRecord::RegisterController {
        node,
        directory_id: Uuid::from_u128(9),
        endpoint: Endpoint {
            name: "CONTROLLER".into(),
            host: "c".into(),
            port: 9093,
        },
    };
    image.apply(1, &record(3)).unwrap();
    assert_eq!(image.controllers[&3].directory_id, Uuid::from_u128(9));
    assert_eq!(image.controllers[&3].endpoint.port, 9093);
    // A negative id names no node (its Raft id would be another's, or none).
    assert!(image.apply(2, &record(-2)).is_err());
    assert_eq!(image.controllers.len(), 1);
}

#[test]
fn client_quota_entities_past_the_bound_are_refused_whole() {
    use crate::quota::{EntityName, QuotaChange, QuotaEntity, QUOTA_ENTITIES_MAX};
    let change = |user: usize| QuotaChange {
        entity: QuotaEntity {
            user: Some(EntityName::Named(format!("u{user}"))),
            client_id: None,
            ip: None,
        },
        key: "producer_byte_rate".into(),
        value: Some(1024.0),
    };
    let mut image = MetadataImage::default();
    let full = (0..QUOTA_ENTITIES_MAX).map(change).collect();
    image
        .apply(1, &MetadataRecord::ClientQuotas { changes: full })
        .unwrap();
    let before = image.clone();
    // One more entity: the whole record goes, an entity already there with it.
    let more = vec![change(0), change(QUOTA_ENTITIES_MAX)];
    assert!(image
        .apply(2, &MetadataRecord::ClientQuotas { changes: more })
        .is_err());
    assert_eq!(image, before);
    let again = vec![change(1)];
    image
        .apply(2, &MetadataRecord::ClientQuotas { changes: again })
        .unwrap();
}
