//! `shoal configs`: Kafka's kafka-configs.sh for topics and brokers (users' SCRAM
//! credentials and client quotas are `configs_users`'s) — describe dynamic
//! (or, with --all, every) config with its synonyms, and alter them with
//! IncrementalAlterConfigs, in its output layout and with its checks.

use anyhow::{bail, Result};
use clap::parser::ValueSource;
use clap::{ArgAction, ArgGroup, ArgMatches, Args};

use super::ConnectArgs;
use crate::client::admin::{self, ConfigEntry, ConfigResource, ConfigSource};
use crate::client::cluster::Cluster;

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("action").required(true).args(["describe", "alter"])))]
pub struct ConfigsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// List configs for the given entity (every entity of the type without a name).
    #[arg(long)]
    pub describe: bool,
    /// Alter the configuration of the entity.
    #[arg(long)]
    pub alter: bool,
    /// With --describe: list every config, not only the dynamic ones.
    #[arg(long)]
    pub all: bool,
    /// The type of entity: topics, brokers, broker-loggers (a broker's log levels),
    /// groups (a consumer group's session timeout and heartbeat interval), users (client
    /// quotas and SCRAM credentials), clients (client quotas) or ips
    /// (connection_creation_rate).
    /// Given twice, users and clients: the quotas of a user and client id together, each
    /// type paired with the --entity-name or --entity-default in the same place.
    #[arg(long, value_name = "TYPE", action = ArgAction::Append,
          value_parser = ["topics", "brokers", "broker-loggers", "groups", "users", "clients", "ips"])]
    pub entity_type: Vec<String>,
    /// The entity: a topic name, a broker id, a user name, a client id or an address.
    #[arg(long, value_name = "NAME", action = ArgAction::Append)]
    pub entity_name: Vec<String>,
    /// The default entity of the type: every broker's cluster-wide config, or the
    /// default user's or client id's quotas.
    #[arg(long, action = ArgAction::Count)]
    pub entity_default: u8,
    /// Each --entity-name (a name) and --entity-default (None) in command-line order,
    /// as Kafka's tool pairs them with the entity types (`order_entities`).
    #[arg(skip)]
    pub entities: Vec<Option<String>>,
    /// Same as --entity-type users --entity-name USER; with --client or
    /// --client-defaults, the quotas of that user and client id together.
    #[arg(long, value_name = "USER",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "user_defaults"])]
    pub user: Option<String>,
    /// Same as --entity-type users --entity-default.
    #[arg(long, conflicts_with_all = ["entity_type", "entity_name", "entity_default"])]
    pub user_defaults: bool,
    /// Same as --entity-type clients --entity-name CLIENT_ID.
    #[arg(long, value_name = "CLIENT_ID",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "client_defaults"])]
    pub client: Option<String>,
    /// Same as --entity-type clients --entity-default.
    #[arg(long, conflicts_with_all = ["entity_type", "entity_name", "entity_default"])]
    pub client_defaults: bool,
    /// Same as --entity-type ips --entity-name ADDRESS.
    #[arg(long, value_name = "ADDRESS",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "ip_defaults", "user", "user_defaults",
                                "client", "client_defaults", "topic", "broker", "broker_defaults", "broker_logger",
                                "group"])]
    pub ip: Option<String>,
    /// Same as --entity-type ips --entity-default.
    #[arg(long, conflicts_with_all = ["entity_type", "entity_name", "entity_default", "user", "user_defaults",
                                      "client", "client_defaults", "topic", "broker", "broker_defaults",
                                      "broker_logger", "group"])]
    pub ip_defaults: bool,
    /// Same as --entity-type topics --entity-name TOPIC.
    #[arg(long, value_name = "TOPIC",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "broker", "broker_defaults"])]
    pub topic: Option<String>,
    /// Same as --entity-type brokers --entity-name ID.
    #[arg(long, value_name = "ID",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "broker_defaults"])]
    pub broker: Option<String>,
    /// Same as --entity-type brokers --entity-default.
    #[arg(long, conflicts_with_all = ["entity_type", "entity_name", "entity_default"])]
    pub broker_defaults: bool,
    /// Same as --entity-type broker-loggers --entity-name ID.
    #[arg(long, value_name = "ID",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "topic", "broker", "broker_defaults"])]
    pub broker_logger: Option<String>,
    /// Same as --entity-type groups --entity-name GROUP.
    #[arg(long, value_name = "GROUP",
          conflicts_with_all = ["entity_type", "entity_name", "entity_default", "topic", "broker", "broker_defaults", "broker_logger"])]
    pub group: Option<String>,
    /// Configs to set: 'k1=v1,k2=[v1,v2],k3=v3' (brackets group values holding commas).
    #[arg(long, value_name = "K=V,...")]
    pub add_config: Option<String>,
    /// A properties file of configs to set, in place of --add-config.
    #[arg(long, value_name = "FILE", conflicts_with = "add_config")]
    pub add_config_file: Option<std::path::PathBuf>,
    /// Config keys to remove: 'k1,k2' (repeatable).
    #[arg(long, value_name = "K,...", value_delimiter = ',')]
    pub delete_config: Vec<String>,
}

impl ConfigsArgs {
    /// Records where each --entity-name and --entity-default stood among the others:
    /// clap keeps each flag's values apart, Kafka's tool pairs them with the entity
    /// types by their order.
    pub fn order_entities(&mut self, matches: &ArgMatches) {
        let names = matches
            .indices_of("entity_name")
            .into_iter()
            .flatten()
            .zip(self.entity_name.iter().cloned().map(Some));
        // A count flag has a default value, with an index of its own: only the given count.
        let given = matches.value_source("entity_default") == Some(ValueSource::CommandLine);
        let defaults = matches
            .indices_of("entity_default")
            .into_iter()
            .flatten()
            .filter(|_| given)
            .map(|index| (index, None));
        let mut placed: Vec<(usize, Option<String>)> = names.chain(defaults).collect();
        placed.sort_by_key(|(index, _)| *index);
        self.entities = placed.into_iter().map(|(_, entity)| entity).collect();
    }

    /// The entity types named, checked as Kafka's tool checks them: none twice, and
    /// more than one only for a user and a client id together.
    pub fn entity_types(&self) -> Result<&[String]> {
        let types = self.entity_type.as_slice();
        if let Some(twice) = types
            .iter()
            .enumerate()
            .find(|(i, t)| types[..*i].contains(t))
        {
            bail!("Duplicate entity type(s) specified: {}", twice.1);
        }
        // Two types, none twice, each users or clients: the pair.
        let pair = types.len() == 2 && types.iter().all(|t| t == "users" || t == "clients");
        if types.len() > 1 && !pair {
            bail!("Only 'users' and 'clients' entity types may be specified together");
        }
        if self.entities.len() > types.len().max(1) {
            bail!("--entity-name or --entity-default must be specified with each --entity-type");
        }
        Ok(types)
    }
}

/// What the command line names.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entity {
    /// A topic, or every topic.
    Topics(Option<String>),
    /// A broker by id, every broker and the default (None), or the default alone.
    Brokers(Option<i32>),
    BrokerDefault,
    /// A broker's loggers, or every broker's (None).
    BrokerLoggers(Option<i32>),
    /// A consumer group's own configs.
    Group(String),
}

impl Entity {
    fn from_args(args: &ConfigsArgs) -> Result<Entity> {
        if args.all && !args.describe {
            bail!("--all can only be used with --describe");
        }
        let adds = args.add_config.is_some() || args.add_config_file.is_some();
        if args.describe && (adds || !args.delete_config.is_empty()) {
            bail!("--add-config and --delete-config can only be used with --alter");
        }
        if let Some(topic) = &args.topic {
            return Ok(Entity::Topics(Some(topic.clone())));
        }
        if let Some(broker) = &args.broker {
            return Ok(Entity::Brokers(Some(broker_id(broker)?)));
        }
        if args.broker_defaults {
            return Ok(Entity::BrokerDefault);
        }
        if let Some(broker) = &args.broker_logger {
            return Ok(Entity::BrokerLoggers(Some(broker_id(broker)?)));
        }
        if let Some(group) = &args.group {
            return Ok(Entity::Group(group.clone()));
        }
        let types = args.entity_types()?;
        let (default, name) = match args.entities.first() {
            Some(None) => (true, None),
            Some(Some(name)) => (false, Some(name.clone())),
            None => (false, None),
        };
        match types.first().map(String::as_str) {
            Some("topics") if default => {
                bail!("--entity-default can only be used with --entity-type brokers")
            }
            Some("topics") => Ok(Entity::Topics(name)),
            Some("groups") => match name {
                Some(name) => Ok(Entity::Group(name)),
                _ => bail!("an entity name must be specified with --entity-type groups"),
            },
            Some("broker-loggers") if default => {
                bail!("--entity-default can only be used with --entity-type brokers")
            }
            Some("broker-loggers") => Ok(Entity::BrokerLoggers(
                name.as_deref().map(broker_id).transpose()?,
            )),
            Some(_) if default => Ok(Entity::BrokerDefault),
            Some(_) => Ok(Entity::Brokers(name.as_deref().map(broker_id).transpose()?)),
            None => {
                bail!("at least one entity type must be specified (--entity-type topics|brokers)")
            }
        }
    }
}

fn broker_id(name: &str) -> Result<i32> {
    name.parse().map_err(|_| {
        anyhow::anyhow!(
            "The entity name for brokers must be a valid integer broker id, but it is: {name}"
        )
    })
}

/// The configs to set: --add-config's, or --add-config-file's entries as written.
pub fn configs_to_add(args: &ConfigsArgs) -> Result<Vec<(String, String)>> {
    match (&args.add_config, &args.add_config_file) {
        (Some(configs), _) => parse_add_config(configs),
        (None, Some(path)) => {
            let entries = super::command_config::read(path, "--add-config-file")?;
            if entries.is_empty() {
                bail!("--add-config-file {} sets nothing", path.display());
            }
            Ok(entries)
        }
        (None, None) => Ok(Vec::new()),
    }
}

pub fn run(args: ConfigsArgs) -> Result<()> {
    let shorthand = args.user.is_some()
        || args.user_defaults
        || args.client.is_some()
        || args.client_defaults
        || args.ip.is_some()
        || args.ip_defaults;
    let quotas = |t: &String| matches!(t.as_str(), "users" | "clients" | "ips");
    if shorthand || args.entity_type.iter().any(quotas) {
        return super::configs_users::run(&args);
    }
    let entity = Entity::from_args(&args)?;
    let mut cluster = args.connect.connect()?;
    if args.describe {
        describe(&mut cluster, &entity, args.all)
    } else {
        alter(&mut cluster, &entity, &args)
    }
}

fn describe(cluster: &mut Cluster, entity: &Entity, all: bool) -> Result<()> {
    let metadata = cluster.metadata(None, false)?;
    let kind = if all { "All" } else { "Dynamic" };
    let mut blocks: Vec<(String, ConfigResource)> = Vec::new();
    match entity {
        Entity::Topics(Some(name)) => {
            if !all && !metadata.topics.contains_key(name) {
                super::say(format_args!(
                    "The topic '{name}' doesn't exist and doesn't have dynamic config."
                ))?;
                return Ok(());
            }
            blocks.push((
                format!("{kind} configs for topic {name} are:"),
                ConfigResource::Topic(name.clone()),
            ));
        }
        Entity::Topics(None) => {
            for name in metadata.topics.keys() {
                blocks.push((
                    format!("{kind} configs for topic {name} are:"),
                    ConfigResource::Topic(name.clone()),
                ));
            }
        }
        Entity::Brokers(Some(id)) => {
            if !all && !metadata.brokers.contains_key(id) {
                super::say(format_args!(
                    "The broker '{id}' doesn't exist and doesn't have dynamic config."
                ))?;
                return Ok(());
            }
            blocks.push((
                format!("{kind} configs for broker {id} are:"),
                ConfigResource::Broker(Some(*id)),
            ));
        }
        Entity::Group(name) => blocks.push((
            format!("{kind} configs for group {name} are:"),
            ConfigResource::Group(name.clone()),
        )),
        Entity::BrokerLoggers(id) => {
            let ids: Vec<i32> = match id {
                Some(id) => vec![*id],
                None => metadata.brokers.keys().copied().collect(),
            };
            for id in ids {
                blocks.push((
                    format!("{kind} configs for broker-logger {id} are:"),
                    ConfigResource::BrokerLogger(id),
                ));
            }
        }
        Entity::Brokers(None) | Entity::BrokerDefault => {
            if *entity == Entity::Brokers(None) {
                for id in metadata.brokers.keys() {
                    blocks.push((
                        format!("{kind} configs for broker {id} are:"),
                        ConfigResource::Broker(Some(*id)),
                    ));
                }
            }
            blocks.push((
                "Default configs for brokers in the cluster are:".to_string(),
                ConfigResource::Broker(None),
            ));
        }
    }
    for (header, resource) in blocks {
        let entries = admin::describe_configs(cluster, std::slice::from_ref(&resource), true)?;
        let filter = (!all).then(|| dynamic_source(&resource));
        super::say(&header)?;
        for line in entry_lines(entries.first().map_or(&[][..], Vec::as_slice), filter) {
            super::say(line)?;
        }
    }
    Ok(())
}

fn alter(cluster: &mut Cluster, entity: &Entity, args: &ConfigsArgs) -> Result<()> {
    let (resource, done) = match entity {
        Entity::Topics(Some(name)) => (
            ConfigResource::Topic(name.clone()),
            format!("Completed updating config for topic {name}."),
        ),
        Entity::Brokers(Some(id)) => (
            ConfigResource::Broker(Some(*id)),
            format!("Completed updating config for broker {id}."),
        ),
        Entity::BrokerDefault => (
            ConfigResource::Broker(None),
            "Completed updating default config for brokers in the cluster.".to_string(),
        ),
        Entity::Group(name) => (
            ConfigResource::Group(name.clone()),
            format!("Completed updating config for group {name}."),
        ),
        Entity::BrokerLoggers(Some(id)) => (
            ConfigResource::BrokerLogger(*id),
            format!("Completed updating config for broker-logger {id}."),
        ),
        Entity::BrokerLoggers(None) => {
            bail!("an entity name must be specified with --alter of broker-loggers")
        }
        Entity::Topics(None) => bail!("an entity name must be specified with --alter of topics"),
        Entity::Brokers(None) => {
            bail!("an entity name or default entity must be specified with --alter of brokers")
        }
    };
    let set = configs_to_add(args)?;
    let delete: Vec<String> = args
        .delete_config
        .iter()
        .map(|k| k.trim().to_string())
        .collect();
    if set.is_empty() && delete.is_empty() {
        bail!("at least one of --add-config or --delete-config must be specified with --alter");
    }
    // As Kafka does: a key to delete must be set at this level now, and a logger to set
    // or delete must be one the broker lists.
    let current = admin::describe_configs(cluster, std::slice::from_ref(&resource), false)?;
    let source = dynamic_source(&resource);
    let set_now: Vec<&str> = current
        .iter()
        .flatten()
        .filter(|e| e.source == source)
        .map(|e| e.name.as_str())
        .collect();
    let loggers = matches!(resource, ConfigResource::BrokerLogger(_));
    let checked = delete
        .iter()
        .chain(set.iter().map(|(k, _)| k).filter(|_| loggers));
    let invalid: Vec<&str> = checked
        .map(String::as_str)
        .filter(|k| !set_now.contains(k))
        .collect();
    match (invalid.is_empty(), loggers) {
        (true, _) => {}
        (false, true) => bail!("Invalid broker logger(s): {}", invalid.join(",")),
        (false, false) => bail!("Invalid config(s): {}", invalid.join(",")),
    }
    admin::alter_configs(cluster, &resource, &set, &delete)?;
    super::say(&done)?;
    Ok(())
}

/// The source a resource's own (dynamic) configs have.
fn dynamic_source(resource: &ConfigResource) -> ConfigSource {
    match resource {
        ConfigResource::Topic(_) => ConfigSource::DynamicTopic,
        ConfigResource::Broker(Some(_)) => ConfigSource::DynamicBroker,
        ConfigResource::Broker(None) => ConfigSource::DynamicDefaultBroker,
        ConfigResource::BrokerLogger(_) => ConfigSource::DynamicBrokerLogger,
        ConfigResource::Group(_) => ConfigSource::DynamicGroup,
    }
}

/// kafka-configs.sh's entry lines, sorted by name, only `filter`'s source when given:
/// `  name=value sensitive=false synonyms={SOURCE:name=value, ...}`.
pub fn entry_lines(entries: &[ConfigEntry], filter: Option<ConfigSource>) -> Vec<String> {
    let mut chosen: Vec<&ConfigEntry> = entries
        .iter()
        .filter(|e| filter.is_none_or(|source| e.source == source))
        .collect();
    chosen.sort_by(|a, b| a.name.cmp(&b.name));
    chosen
        .into_iter()
        .map(|e| {
            let synonyms: Vec<String> = e
                .synonyms
                .iter()
                .map(|s| {
                    format!(
                        "{}:{}={}",
                        s.source.name(),
                        s.name,
                        s.value.as_deref().unwrap_or("null")
                    )
                })
                .collect();
            format!(
                "  {}={} sensitive={} synonyms={{{}}}",
                e.name,
                e.value.as_deref().unwrap_or("null"),
                e.sensitive,
                synonyms.join(", ")
            )
        })
        .collect()
}

/// --add-config as Kafka reads it: pairs split at commas outside square brackets, each
/// `key=value` with exactly one `=` outside brackets; brackets are then dropped from
/// values, so `k=[a,b]` sets `a,b`. Keys may hold only letters, digits, `.`, `_`, `-`.
pub fn parse_add_config(configs: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for pair in split_outside_brackets(configs, ',') {
        let parts = split_outside_brackets(pair, '=');
        let [key, value] = parts.as_slice() else {
            bail!(
                "Invalid entity config: all configs to be added must be in the format \"key=val\" or \"key=[val1,val2]\" to group values which contain commas."
            );
        };
        let key = key.trim();
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            bail!("Invalid character found for config key: {key}");
        }
        let value: String = value.chars().filter(|c| *c != '[' && *c != ']').collect();
        pairs.push((key.to_string(), value.trim().to_string()));
    }
    Ok(pairs)
}

fn split_outside_brackets(s: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::admin::ConfigSynonym;

    #[test]
    fn entry_lines_match_kafka_configs_layout() {
        let entries = vec![
            ConfigEntry {
                name: "retention.ms".into(),
                value: Some("60000".into()),
                source: ConfigSource::DynamicTopic,
                sensitive: false,
                read_only: false,
                synonyms: vec![
                    ConfigSynonym {
                        name: "retention.ms".into(),
                        value: Some("60000".into()),
                        source: ConfigSource::DynamicTopic,
                    },
                    ConfigSynonym {
                        name: "log.retention.hours".into(),
                        value: Some("168".into()),
                        source: ConfigSource::Default,
                    },
                ],
            },
            ConfigEntry {
                name: "cleanup.policy".into(),
                value: Some("delete".into()),
                source: ConfigSource::Default,
                sensitive: false,
                read_only: false,
                synonyms: vec![],
            },
            ConfigEntry {
                name: "password".into(),
                value: None,
                source: ConfigSource::DynamicTopic,
                sensitive: true,
                read_only: false,
                synonyms: vec![],
            },
        ];
        assert_eq!(
            entry_lines(&entries, Some(ConfigSource::DynamicTopic)),
            [
                "  password=null sensitive=true synonyms={}",
                "  retention.ms=60000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=60000, DEFAULT_CONFIG:log.retention.hours=168}",
            ]
        );
        assert_eq!(entry_lines(&entries, None).len(), 3);
        assert_eq!(
            entry_lines(&entries, None)[0],
            "  cleanup.policy=delete sensitive=false synonyms={}"
        );
    }

    #[test]
    fn add_config_groups_bracketed_values() {
        assert_eq!(
            parse_add_config("a=1, b = [x,y] ,c=").unwrap(),
            [
                ("a".into(), "1".into()),
                ("b".into(), "x,y".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(parse_add_config("a").is_err());
        assert!(parse_add_config("a=b=c").is_err());
        assert!(parse_add_config("").is_err());
        assert_eq!(
            parse_add_config("bad key=1").unwrap_err().to_string(),
            "Invalid character found for config key: bad key"
        );
    }

    #[test]
    fn entities_follow_the_flags() {
        use clap::{CommandFactory, FromArgMatches, Parser};
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ConfigsArgs,
        }
        let entity = |argv: &[&str]| {
            let matches = Cli::command()
                .try_get_matches_from([&["configs"], argv].concat())
                .map_err(|e| e.to_string())?;
            let mut cli = Cli::from_arg_matches(&matches).map_err(|e| e.to_string())?;
            cli.args.order_entities(&matches);
            Entity::from_args(&cli.args).map_err(|e| e.to_string())
        };
        assert_eq!(
            entity(&[
                "--describe",
                "--entity-type",
                "topics",
                "--entity-name",
                "t"
            ]),
            Ok(Entity::Topics(Some("t".into())))
        );
        assert_eq!(
            entity(&["--describe", "--topic", "t"]),
            Ok(Entity::Topics(Some("t".into())))
        );
        assert_eq!(
            entity(&["--describe", "--entity-type", "brokers"]),
            Ok(Entity::Brokers(None))
        );
        assert_eq!(
            entity(&[
                "--alter",
                "--entity-type",
                "brokers",
                "--entity-default",
                "--add-config",
                "a=1"
            ]),
            Ok(Entity::BrokerDefault)
        );
        assert_eq!(
            entity(&["--describe", "--broker", "1"]),
            Ok(Entity::Brokers(Some(1)))
        );
        assert!(entity(&[
            "--describe",
            "--entity-type",
            "brokers",
            "--entity-name",
            "x"
        ])
        .unwrap_err()
        .contains("valid integer broker id"));
        assert!(entity(&["--describe", "--entity-type", "groups"]).is_err());
        assert!(entity(&["--describe"]).is_err());
        assert!(entity(&["--describe", "--add-config", "a=1", "--topic", "t"]).is_err());
        assert!(entity(&["--describe", "--alter", "--topic", "t"]).is_err());
    }
}
