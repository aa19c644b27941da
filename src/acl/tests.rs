use super::*;

fn acl(
    resource_type: ResourceType,
    name: &str,
    pattern_type: PatternType,
    principal: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    AclBinding {
        resource_type,
        resource_name: name.to_string(),
        pattern_type,
        principal: principal.to_string(),
        host: "*".to_string(),
        operation,
        permission,
    }
}

pub(crate) fn topic_acl(
    name: &str,
    principal: &str,
    operation: Operation,
    permission: Permission,
) -> AclBinding {
    acl(
        ResourceType::Topic,
        name,
        PatternType::Literal,
        principal,
        operation,
        permission,
    )
}

const ALICE: &str = "User:alice";
const HOST: &str = "10.0.0.1";

fn may(authorizer: &Authorizer, operation: Operation, topic: &str) -> bool {
    authorizer.authorize(ALICE, HOST, operation, ResourceType::Topic, topic)
}

#[test]
fn codes_round_trip_and_unknown_codes_are_unknown() {
    for op in Operation::VALUES {
        assert_eq!(Operation::from_code(op.code()), *op);
    }
    assert_eq!(Operation::from_code(16), Operation::Unknown);
    assert_eq!(ResourceType::from_code(-1), ResourceType::Unknown);
    assert_eq!(PatternType::from_code(5), PatternType::Unknown);
    assert_eq!(Permission::from_code(3), Permission::Allow);
    assert_eq!(
        Operation::parse("DescribeConfigs"),
        Some(Operation::DescribeConfigs)
    );
    assert_eq!(
        Operation::parse("describe_configs"),
        Some(Operation::DescribeConfigs)
    );
    assert_eq!(
        ResourceType::parse("TransactionalId"),
        Some(ResourceType::TransactionalId)
    );
    assert_eq!(Operation::parse("Reed"), None);
}

#[test]
fn no_acl_denies_unless_allow_everyone() {
    let strict = Authorizer::new(&[], false, &[]);
    assert!(!may(&strict, Operation::Read, "t"));
    let open = Authorizer::new(&[], true, &[]);
    assert!(may(&open, Operation::Read, "t"));
}

#[test]
fn allow_everyone_applies_only_when_no_acl_applies_to_the_resource() {
    // Another principal's ACL on the topic: the topic has ACLs, so Alice is denied.
    let acls = [topic_acl(
        "t",
        "User:bob",
        Operation::Read,
        Permission::Allow,
    )];
    let authorizer = Authorizer::new(&[], true, &acls);
    assert!(!may(&authorizer, Operation::Read, "t"));
    // A topic no ACL names falls back to allow-everyone.
    assert!(may(&authorizer, Operation::Read, "other"));
    // So does another resource type.
    assert!(authorizer.authorize(ALICE, HOST, Operation::Read, ResourceType::Group, "t"));
}

#[test]
fn deny_beats_allow() {
    let acls = [
        topic_acl("t", ALICE, Operation::All, Permission::Allow),
        topic_acl("t", "User:*", Operation::Write, Permission::Deny),
    ];
    let authorizer = Authorizer::new(&[], false, &acls);
    assert!(may(&authorizer, Operation::Read, "t"));
    assert!(!may(&authorizer, Operation::Write, "t"));
}

#[test]
fn all_implies_every_operation_and_reads_imply_describe() {
    let all = Authorizer::new(
        &[],
        false,
        &[topic_acl("t", ALICE, Operation::All, Permission::Allow)],
    );
    for op in Operation::of(ResourceType::Topic) {
        assert!(may(&all, *op, "t"), "{op}");
    }
    for granted in [
        Operation::Read,
        Operation::Write,
        Operation::Delete,
        Operation::Alter,
    ] {
        let one = Authorizer::new(
            &[],
            false,
            &[topic_acl("t", ALICE, granted, Permission::Allow)],
        );
        assert!(
            may(&one, Operation::Describe, "t"),
            "{granted} implies DESCRIBE"
        );
        assert!(!may(&one, Operation::Create, "t"));
    }
    let describe = Authorizer::new(
        &[],
        false,
        &[topic_acl(
            "t",
            ALICE,
            Operation::Describe,
            Permission::Allow,
        )],
    );
    assert!(!may(&describe, Operation::Read, "t"));
    let alter_configs = Authorizer::new(
        &[],
        false,
        &[topic_acl(
            "t",
            ALICE,
            Operation::AlterConfigs,
            Permission::Allow,
        )],
    );
    assert!(may(&alter_configs, Operation::DescribeConfigs, "t"));
    assert!(!may(&alter_configs, Operation::Describe, "t"));
}

#[test]
fn a_deny_denies_only_what_it_names() {
    let acls = [
        topic_acl("t", ALICE, Operation::Read, Permission::Allow),
        topic_acl("t", ALICE, Operation::Read, Permission::Deny),
    ];
    let authorizer = Authorizer::new(&[], false, &acls);
    assert!(!may(&authorizer, Operation::Read, "t"));
    // The DENY READ does not deny DESCRIBE, which the ALLOW READ implies.
    assert!(may(&authorizer, Operation::Describe, "t"));
    let deny_all = Authorizer::new(
        &[],
        true,
        &[
            topic_acl("t", ALICE, Operation::Read, Permission::Allow),
            topic_acl("t", ALICE, Operation::All, Permission::Deny),
        ],
    );
    assert!(!may(&deny_all, Operation::Describe, "t"));
}

#[test]
fn wildcard_name_prefixes_wildcard_principal_and_hosts() {
    let acls = [
        topic_acl("*", "User:*", Operation::Describe, Permission::Allow),
        acl(
            ResourceType::Topic,
            "orders-",
            PatternType::Prefixed,
            ALICE,
            Operation::Write,
            Permission::Allow,
        ),
        topic_acl("orders", ALICE, Operation::Read, Permission::Allow),
    ];
    let authorizer = Authorizer::new(&[], false, &acls);
    assert!(may(&authorizer, Operation::Describe, "anything"));
    assert!(may(&authorizer, Operation::Write, "orders-eu"));
    assert!(!may(&authorizer, Operation::Write, "orders"));
    // A literal name is not a prefix: "orders" does not cover "orders2".
    assert!(!may(&authorizer, Operation::Read, "orders2"));
    assert!(may(&authorizer, Operation::Read, "orders"));
    // Only `User:*` is a wildcard principal.
    let group_wildcard = [topic_acl(
        "t",
        "Group:*",
        Operation::Read,
        Permission::Allow,
    )];
    assert!(!may(
        &Authorizer::new(&[], false, &group_wildcard),
        Operation::Read,
        "t"
    ));

    let mut by_host = topic_acl("t", ALICE, Operation::Read, Permission::Allow);
    by_host.host = "10.0.0.2".to_string();
    let authorizer = Authorizer::new(&[], false, &[by_host]);
    assert!(!may(&authorizer, Operation::Read, "t"));
    assert!(authorizer.authorize(ALICE, "10.0.0.2", Operation::Read, ResourceType::Topic, "t"));
}

#[test]
fn super_users_bypass_every_acl() {
    let acls = [topic_acl("t", "User:*", Operation::All, Permission::Deny)];
    let authorizer = Authorizer::new(&["User:admin".to_string()], false, &acls);
    assert!(authorizer.authorize(
        "User:admin",
        HOST,
        Operation::Write,
        ResourceType::Topic,
        "t"
    ));
    assert!(!may(&authorizer, Operation::Write, "t"));
}

#[test]
fn authorized_operations_are_a_bit_set_of_the_types_operations() {
    let acls = [topic_acl("t", ALICE, Operation::Read, Permission::Allow)];
    let authorizer = Authorizer::new(&[], false, &acls);
    let bits = authorizer.authorized_operations(ALICE, HOST, ResourceType::Topic, "t");
    assert_eq!(
        bits,
        (1 << Operation::Read.code()) | (1 << Operation::Describe.code())
    );
}

#[test]
fn creations_are_validated_as_kafka_does() {
    let good = topic_acl("t", ALICE, Operation::Read, Permission::Allow);
    assert_eq!(good.validate(), Ok(()));
    let refused = |change: &dyn Fn(&mut AclBinding)| {
        let mut bad = good.clone();
        change(&mut bad);
        bad.validate().is_err()
    };
    assert!(refused(&|b| b.resource_type = ResourceType::Any));
    assert!(refused(&|b| b.pattern_type = PatternType::Match));
    assert!(refused(&|b| b.pattern_type = PatternType::Any));
    assert!(refused(&|b| b.operation = Operation::Any));
    assert!(refused(&|b| b.permission = Permission::Any));
    assert!(refused(&|b| b.resource_name.clear()));
    assert!(refused(&|b| b.principal = "alice".to_string()));
    assert!(refused(&|b| {
        b.resource_type = ResourceType::Cluster;
        b.resource_name = "my-cluster".to_string();
    }));
    assert!(!refused(&|b| {
        b.resource_type = ResourceType::Cluster;
        b.resource_name = CLUSTER_NAME.to_string();
    }));
    assert!(!good.has_unknown());
    assert!(refused(&|b| b.operation = Operation::Unknown));
}

#[test]
fn filters_match_as_kafkas_do() {
    let literal = topic_acl("orders", ALICE, Operation::Read, Permission::Allow);
    let wildcard = topic_acl("*", ALICE, Operation::Read, Permission::Allow);
    let prefixed = acl(
        ResourceType::Topic,
        "ord",
        PatternType::Prefixed,
        ALICE,
        Operation::Read,
        Permission::Allow,
    );
    let named = |pattern_type: PatternType| AclFilter {
        resource_type: ResourceType::Topic,
        resource_name: Some("orders".to_string()),
        pattern_type,
        ..AclFilter::any()
    };
    // MATCH: every ACL that applies to the resource "orders".
    let matched = named(PatternType::Match);
    assert!(matched.matches(&literal) && matched.matches(&wildcard) && matched.matches(&prefixed));
    // ANY: the name must be equal, whatever the pattern type.
    let any = named(PatternType::Any);
    assert!(any.matches(&literal) && !any.matches(&wildcard) && !any.matches(&prefixed));
    // A concrete pattern type: that type and exactly that name.
    assert!(named(PatternType::Literal).matches(&literal));
    assert!(!named(PatternType::Prefixed).matches(&prefixed));
    let mut prefix_filter = named(PatternType::Prefixed);
    prefix_filter.resource_name = Some("ord".to_string());
    assert!(prefix_filter.matches(&prefixed) && !prefix_filter.matches(&literal));
    // No name: every name; other fields must be equal unless ANY.
    let everything = AclFilter::any();
    assert!(everything.matches(&literal) && everything.matches(&prefixed));
    let by_principal = AclFilter {
        principal: Some("User:bob".to_string()),
        ..AclFilter::any()
    };
    assert!(!by_principal.matches(&literal));
    let by_operation = AclFilter {
        operation: Operation::Write,
        ..AclFilter::any()
    };
    assert!(!by_operation.matches(&literal));
    let group = AclFilter {
        resource_type: ResourceType::Group,
        ..AclFilter::any()
    };
    assert!(!group.matches(&literal));
}

#[test]
fn authorize_any_finds_an_allow_no_deny_covers() {
    let any_write = |acls: &[AclBinding]| {
        Authorizer::new(&[], false, acls).authorize_any(
            ALICE,
            HOST,
            Operation::Write,
            ResourceType::Topic,
        )
    };
    let prefixed = |name: &str, permission| {
        acl(
            ResourceType::Topic,
            name,
            PatternType::Prefixed,
            ALICE,
            Operation::Write,
            permission,
        )
    };
    assert!(!any_write(&[]));
    assert!(any_write(&[topic_acl(
        "t",
        ALICE,
        Operation::Write,
        Permission::Allow
    )]));
    assert!(any_write(&[prefixed("orders-", Permission::Allow)]));
    assert!(!any_write(&[topic_acl(
        "t",
        ALICE,
        Operation::Read,
        Permission::Allow
    )]));
    assert!(!any_write(&[topic_acl(
        "t",
        "User:bob",
        Operation::Write,
        Permission::Allow
    )]));
    assert!(!any_write(&[
        topic_acl("t", ALICE, Operation::Write, Permission::Allow),
        topic_acl("t", ALICE, Operation::Write, Permission::Deny),
    ]));
    assert!(!any_write(&[
        prefixed("orders-eu", Permission::Allow),
        prefixed("orders-", Permission::Deny),
    ]));
    assert!(any_write(&[
        prefixed("orders-", Permission::Allow),
        prefixed("orders-eu", Permission::Deny),
    ]));
    assert!(!any_write(&[
        topic_acl("t", ALICE, Operation::Write, Permission::Allow),
        topic_acl("*", ALICE, Operation::All, Permission::Deny),
    ]));
}
