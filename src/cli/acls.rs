//! `shoal acls`: Kafka's kafka-acls.sh — list, add and remove ACLs on topics, groups,
//! transactional ids and the cluster, with its flags, its checks (operations a resource
//! type supports, a confirmation before removing) and its output layout.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::{bail, Result};
use clap::{ArgGroup, Args};

use super::{say, ConnectArgs};
use crate::acl::{
    AclBinding, AclFilter, Operation, PatternType, Permission, ResourceType, CLUSTER_NAME,
};
use crate::client::acls::{self, entry, pattern};
use crate::client::cluster::Cluster;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("action").required(true).args(["list", "add", "remove"])))]
pub struct AclsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List the ACLs of the given resources (every ACL without one).
    #[arg(long)]
    pub list: bool,
    /// Add ACLs.
    #[arg(long)]
    pub add: bool,
    /// Remove ACLs.
    #[arg(long)]
    pub remove: bool,
    /// A principal to allow, `Type:name` (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub allow_principal: Vec<String>,
    /// A principal to deny, `Type:name` (repeatable).
    #[arg(long, value_name = "PRINCIPAL")]
    pub deny_principal: Vec<String>,
    /// A host the allowed principals may connect from (default: any, `*`).
    #[arg(long, value_name = "HOST")]
    pub allow_host: Vec<String>,
    /// A host the denied principals are refused from (default: any, `*`).
    #[arg(long, value_name = "HOST")]
    pub deny_host: Vec<String>,
    /// An operation (Read, Write, Create, Delete, Alter, Describe, ClusterAction,
    /// AlterConfigs, DescribeConfigs, IdempotentWrite, All; repeatable; default All).
    #[arg(long, value_name = "OPERATION", value_parser = parse_operation)]
    pub operation: Vec<Operation>,
    /// A topic (repeatable; `*` is every topic).
    #[arg(long, value_name = "TOPIC")]
    pub topic: Vec<String>,
    /// A consumer group (repeatable; `*` is every group).
    #[arg(long, value_name = "GROUP")]
    pub group: Vec<String>,
    /// The cluster.
    #[arg(long)]
    pub cluster: bool,
    /// A transactional id (repeatable).
    #[arg(long, value_name = "ID")]
    pub transactional_id: Vec<String>,
    /// How the resource names match: LITERAL or PREFIXED (--add, --remove: default
    /// LITERAL), or for --list and --remove also ANY and MATCH (--list: default ANY).
    #[arg(long, value_name = "TYPE", value_parser = parse_pattern_type)]
    pub resource_pattern_type: Option<PatternType>,
    /// With --list: only the ACLs of this principal.
    #[arg(long, value_name = "PRINCIPAL")]
    pub principal: Vec<String>,
    /// With --remove: do not ask for confirmation.
    #[arg(long)]
    pub force: bool,
    /// The ACLs a producer needs, in place of --operation: WRITE, DESCRIBE and CREATE on
    /// each --topic, WRITE and DESCRIBE on each --transactional-id.
    #[arg(long, conflicts_with_all = ["operation", "deny_principal", "deny_host"])]
    pub producer: bool,
    /// With --producer: IDEMPOTENT_WRITE on the cluster too.
    #[arg(long, requires = "producer")]
    pub idempotent: bool,
    /// The ACLs a consumer needs, in place of --operation: READ and DESCRIBE on each
    /// --topic, READ on each --group.
    #[arg(long, conflicts_with_all = ["operation", "deny_principal", "deny_host"])]
    pub consumer: bool,
}

fn parse_operation(text: &str) -> Result<Operation, String> {
    match Operation::parse(text) {
        Some(op) if !matches!(op, Operation::Any | Operation::Unknown) => Ok(op),
        _ => Err(format!("unknown operation '{text}'")),
    }
}

fn parse_pattern_type(text: &str) -> Result<PatternType, String> {
    match PatternType::parse(text) {
        Some(pattern) if pattern != PatternType::Unknown => Ok(pattern),
        _ => Err(format!("unknown resource pattern type '{text}'")),
    }
}

pub fn run(args: AclsArgs) -> Result<()> {
    // Kafka's AclCommand's rules for its convenience options.
    if (args.producer || args.consumer) && !(args.add || args.remove) {
        bail!("--producer and --consumer go with --add or --remove");
    }
    if args.producer && args.topic.is_empty() {
        bail!("With --producer you must specify a --topic");
    }
    if args.consumer
        && (args.topic.is_empty()
            || args.group.is_empty()
            || (!args.producer && (args.cluster || !args.transactional_id.is_empty())))
    {
        bail!("With --consumer you must specify a --topic and a --group and no --cluster or --transactional-id option should be specified.");
    }
    let mut cluster = args.connect.connect()?;
    if args.add {
        add(&mut cluster, &args)
    } else if args.remove {
        remove(&mut cluster, &args)
    } else {
        let filters = list_filters(&args);
        list(&mut cluster, &filters)
    }
}

/// The resources the command line names, as (type, name).
fn resources(args: &AclsArgs) -> Vec<(ResourceType, String)> {
    let named = |rt: ResourceType, names: &[String]| {
        names
            .iter()
            .map(move |name| (rt, name.clone()))
            .collect::<Vec<_>>()
    };
    let mut resources = named(ResourceType::Topic, &args.topic);
    resources.extend(named(ResourceType::Group, &args.group));
    resources.extend(named(ResourceType::TransactionalId, &args.transactional_id));
    if args.cluster || args.idempotent {
        resources.push((ResourceType::Cluster, CLUSTER_NAME.to_string()));
    }
    resources
}

/// The operations --add or --remove names on a resource of `resource_type`: those of
/// --producer and --consumer, else --operation's, else ALL.
fn operations(args: &AclsArgs, resource_type: ResourceType) -> Vec<Operation> {
    if !(args.producer || args.consumer) {
        return match args.operation.is_empty() {
            true => vec![Operation::All],
            false => args.operation.clone(),
        };
    }
    let mut operations = Vec::new();
    let mut add = |wanted: bool, ops: &[Operation]| {
        for op in ops.iter().filter(|_| wanted) {
            if !operations.contains(op) {
                operations.push(*op);
            }
        }
    };
    match resource_type {
        ResourceType::Topic => {
            let producer = [Operation::Write, Operation::Describe, Operation::Create];
            add(args.producer, &producer);
            add(args.consumer, &[Operation::Read, Operation::Describe]);
        }
        ResourceType::TransactionalId => {
            add(args.producer, &[Operation::Write, Operation::Describe]);
        }
        ResourceType::Group => add(args.consumer, &[Operation::Read]),
        ResourceType::Cluster => add(args.idempotent, &[Operation::IdempotentWrite]),
        _ => {}
    }
    operations
}

/// The ACLs --add or --remove names: each principal, host and operation on each resource.
fn bindings(args: &AclsArgs, resource_type: ResourceType, name: &str) -> Result<Vec<AclBinding>> {
    let pattern_type = args.resource_pattern_type.unwrap_or(PatternType::Literal);
    let operations = operations(args, resource_type);
    if let Some(bad) = operations
        .iter()
        .find(|op| **op != Operation::All && !Operation::of(resource_type).contains(op))
    {
        let supported: Vec<&str> = Operation::of(resource_type)
            .iter()
            .chain([&Operation::All])
            .map(|op| op.name())
            .collect();
        bail!(
            "ResourceType {resource_type} only supports operations {} (not {bad})",
            supported.join(",")
        );
    }
    let hosts = |hosts: &[String]| -> Vec<String> {
        if hosts.is_empty() {
            vec!["*".to_string()]
        } else {
            hosts.to_vec()
        }
    };
    let mut acls = Vec::new();
    for (permission, principals, hosts) in [
        (
            Permission::Allow,
            &args.allow_principal,
            hosts(&args.allow_host),
        ),
        (
            Permission::Deny,
            &args.deny_principal,
            hosts(&args.deny_host),
        ),
    ] {
        for principal in principals {
            for host in &hosts {
                for operation in &operations {
                    acls.push(AclBinding {
                        resource_type,
                        resource_name: name.to_string(),
                        pattern_type,
                        principal: principal.clone(),
                        host: host.clone(),
                        operation: *operation,
                        permission,
                    });
                }
            }
        }
    }
    Ok(acls)
}

fn add(cluster: &mut Cluster, args: &AclsArgs) -> Result<()> {
    let resources = resources(args);
    if resources.is_empty() {
        bail!("--add needs a resource: --topic, --group, --cluster or --transactional-id");
    }
    if args.allow_principal.is_empty() && args.deny_principal.is_empty() {
        bail!("--add needs --allow-principal or --deny-principal");
    }
    let pattern_type = args.resource_pattern_type.unwrap_or(PatternType::Literal);
    if !matches!(pattern_type, PatternType::Literal | PatternType::Prefixed) {
        bail!("--add takes --resource-pattern-type LITERAL or PREFIXED, not {pattern_type}");
    }
    let mut filters = Vec::new();
    for (resource_type, name) in &resources {
        let acls = bindings(args, *resource_type, name)?;
        if acls.is_empty() {
            continue; // --producer or --consumer want nothing of this resource
        }
        say(format!(
            "Adding ACLs for resource `{}`: \n {} \n",
            pattern(*resource_type, Some(name), pattern_type),
            entries(&acls)
        ))?;
        acls::create_acls(cluster, &acls)?;
        filters.push(resource_filter(*resource_type, Some(name), pattern_type));
    }
    list(cluster, &filters)
}

fn remove(cluster: &mut Cluster, args: &AclsArgs) -> Result<()> {
    let resources = resources(args);
    if resources.is_empty() {
        bail!("--remove needs a resource: --topic, --group, --cluster or --transactional-id");
    }
    let pattern_type = args.resource_pattern_type.unwrap_or(PatternType::Literal);
    let mut listed = Vec::new();
    for (resource_type, name) in &resources {
        let whole = resource_filter(*resource_type, Some(name), pattern_type);
        let described = pattern(*resource_type, Some(name), pattern_type);
        let acls = bindings(args, *resource_type, name)?;
        if acls.is_empty() && (args.producer || args.consumer) {
            continue; // they want nothing of this resource: not a removal of all its ACLs
        }
        let (question, filters) = if acls.is_empty() {
            let question = format!(
                "Are you sure you want to delete all ACLs for resource filter `{described}`? (y/n)"
            );
            (question, vec![whole.clone()])
        } else {
            let question = format!(
                "Are you sure you want to remove ACLs: \n {} \n from resource filter `{described}`? (y/n)",
                entries(&acls)
            );
            (question, acls.iter().map(exact).collect())
        };
        if args.force || confirm(&question)? {
            acls::delete_acls(cluster, &filters)?;
        }
        listed.push(whole);
    }
    list(cluster, &listed)
}

fn confirm(question: &str) -> Result<bool> {
    say(question)?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

fn list_filters(args: &AclsArgs) -> Vec<AclFilter> {
    let pattern_type = args.resource_pattern_type.unwrap_or(PatternType::Any);
    let resources = resources(args);
    let by_resource: Vec<AclFilter> = if resources.is_empty() {
        vec![resource_filter(ResourceType::Any, None, pattern_type)]
    } else {
        resources
            .iter()
            .map(|(rt, name)| resource_filter(*rt, Some(name), pattern_type))
            .collect()
    };
    if args.principal.is_empty() {
        return by_resource;
    }
    by_resource
        .iter()
        .flat_map(|filter| {
            args.principal.iter().map(|principal| AclFilter {
                principal: Some(principal.clone()),
                ..filter.clone()
            })
        })
        .collect()
}

/// Prints the ACLs the filters match, grouped by resource pattern, as kafka-acls.sh does.
fn list(cluster: &mut Cluster, filters: &[AclFilter]) -> Result<()> {
    let mut by_resource: BTreeMap<(ResourceType, String, PatternType), Vec<AclBinding>> =
        BTreeMap::new();
    for filter in filters {
        for acl in acls::describe_acls(cluster, filter)? {
            let key = (
                acl.resource_type,
                acl.resource_name.clone(),
                acl.pattern_type,
            );
            let acls = by_resource.entry(key).or_default();
            if !acls.contains(&acl) {
                acls.push(acl);
            }
        }
    }
    for ((resource_type, name, pattern_type), acls) in &by_resource {
        say(format!(
            "Current ACLs for resource `{}`: \n {} \n",
            pattern(*resource_type, Some(name), *pattern_type),
            entries(acls)
        ))?;
    }
    Ok(())
}

fn entries(acls: &[AclBinding]) -> String {
    let lines: Vec<String> = acls.iter().map(|acl| format!("\t{}", entry(acl))).collect();
    lines.join("\n")
}

fn resource_filter(
    resource_type: ResourceType,
    name: Option<&str>,
    pattern: PatternType,
) -> AclFilter {
    AclFilter {
        resource_type,
        resource_name: name.map(str::to_string),
        pattern_type: pattern,
        ..AclFilter::any()
    }
}

/// A filter matching exactly `acl`.
fn exact(acl: &AclBinding) -> AclFilter {
    AclFilter {
        resource_type: acl.resource_type,
        resource_name: Some(acl.resource_name.clone()),
        pattern_type: acl.pattern_type,
        principal: Some(acl.principal.clone()),
        host: Some(acl.host.clone()),
        operation: acl.operation,
        permission: acl.permission,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: AclsArgs,
    }

    fn parse(line: &[&str]) -> AclsArgs {
        let argv = std::iter::once("acls").chain(line.iter().copied());
        Cli::try_parse_from(argv)
            .map(|cli| cli.args)
            .expect("command line")
    }

    #[test]
    fn add_makes_one_acl_per_principal_host_and_operation() {
        let args = parse(&[
            "--add",
            "--allow-principal",
            "User:alice",
            "--allow-principal",
            "User:bob",
            "--operation",
            "Read",
            "--operation",
            "Describe",
            "--topic",
            "orders",
        ]);
        let acls = bindings(&args, ResourceType::Topic, "orders").expect("valid");
        assert_eq!(acls.len(), 4);
        assert!(acls
            .iter()
            .all(|a| a.host == "*" && a.permission == Permission::Allow));
        assert!(acls.iter().all(|a| a.pattern_type == PatternType::Literal));
    }

    #[test]
    fn operations_must_suit_the_resource_type() {
        let args = parse(&[
            "--add",
            "--deny-principal",
            "User:a",
            "--operation",
            "Write",
            "--group",
            "g",
        ]);
        let error = bindings(&args, ResourceType::Group, "g").expect_err("WRITE on a group");
        assert!(error.to_string().contains("GROUP only supports"), "{error}");
        assert!(parse_operation("Reed").is_err());
        assert_eq!(
            parse_operation("IdempotentWrite"),
            Ok(Operation::IdempotentWrite)
        );
    }

    #[test]
    fn list_filters_default_to_any_pattern_and_split_by_principal() {
        let args = parse(&[
            "--list",
            "--topic",
            "t",
            "--principal",
            "User:a",
            "--principal",
            "User:b",
        ]);
        let filters = list_filters(&args);
        assert_eq!(filters.len(), 2);
        assert!(filters.iter().all(|f| f.pattern_type == PatternType::Any));
        let everything = list_filters(&parse(&["--list"]));
        assert_eq!(everything, vec![AclFilter::any()]);
    }

    #[test]
    fn entries_print_as_kafka_does() {
        let acl = AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: "t".to_string(),
            pattern_type: PatternType::Prefixed,
            principal: "User:a".to_string(),
            host: "*".to_string(),
            operation: Operation::DescribeConfigs,
            permission: Permission::Deny,
        };
        assert_eq!(
            entries(&[acl]),
            "\t(principal=User:a, host=*, operation=DESCRIBE_CONFIGS, permissionType=DENY)"
        );
        assert_eq!(
            pattern(ResourceType::Topic, Some("t"), PatternType::Literal),
            "ResourcePattern(resourceType=TOPIC, name=t, patternType=LITERAL)"
        );
    }
}
