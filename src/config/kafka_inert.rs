//! The rest of Kafka 4's broker keys, so that an operator's `server.properties` starts a
//! broker: keys for machinery shoal does not have (accepted with one notice each), and
//! keys whose effect shoal does not offer (accepted at Kafka's default, which is how
//! shoal behaves; any other value stops the broker, saying why).

/// Keys with no meaning here, grouped by why.
pub(super) const INERT_GROUPS: &[(&str, &[&str])] = &[
    (
        "each core's shard does this work itself, with no thread pool or purgatory of its own",
        &[
            "group.coordinator.threads",
            "share.coordinator.threads",
            "num.replica.alter.log.dirs.threads",
            "delete.records.purgatory.purge.interval.requests",
            "fetch.purgatory.purge.interval.requests",
            "producer.purgatory.purge.interval.requests",
            "share.fetch.purgatory.purge.interval.requests",
        ],
    ),
    (
        "shoal sizes and batches these writes and buffers itself",
        &[
            "offsets.load.buffer.size",
            "transaction.state.log.load.buffer.size",
            "group.coordinator.append.linger.ms",
            "offsets.topic.segment.bytes",
            "offsets.topic.compression.codec",
            "max.incremental.fetch.session.cache.slots",
            "socket.listen.backlog.size",
        ],
    ),
    (
        "replication runs shard to shard with shoal's own fetch sizes and timing",
        &[
            "replica.fetch.min.bytes",
            "replica.fetch.wait.max.ms",
            "replica.fetch.backoff.ms",
            "replica.fetch.max.bytes",
            "replica.fetch.response.max.bytes",
            "replica.socket.timeout.ms",
            "replica.socket.receive.buffer.bytes",
        ],
    ),
    (
        "the metadata quorum keeps its log in log.dirs, with its own timers and snapshots",
        &[
            "controller.quorum.election.backoff.max.ms",
            "controller.quorum.fetch.timeout.ms",
            "controller.quorum.request.timeout.ms",
            "controller.quorum.retry.backoff.ms",
            "controller.quorum.append.linger.ms",
            "controller.socket.timeout.ms",
            "controller.performance.sample.period.ms",
            "controller.performance.always.log.threshold.ms",
            "metadata.log.dir",
            "metadata.log.max.snapshot.interval.ms",
            "metadata.log.segment.bytes",
            "metadata.log.segment.ms",
            "metadata.log.segment.min.bytes",
            "metadata.max.retention.bytes",
            "metadata.max.retention.ms",
            "metadata.max.idle.interval.ms",
            "broker.heartbeat.interval.ms",
            "initial.broker.registration.timeout.ms",
            "early.start.listeners",
        ],
    ),
    (
        "shoal times its own calls between brokers",
        &[
            "request.timeout.ms",
            "socket.connection.setup.timeout.ms",
            "socket.connection.setup.timeout.max.ms",
            "offsets.commit.timeout.ms",
            "add.partitions.to.txn.retry.backoff.ms",
            "add.partitions.to.txn.retry.backoff.max.ms",
        ],
    ),
    (
        "each shard's housekeeping runs these on its own schedule",
        &[
            "log.cleaner.backoff.ms",
            "log.initial.task.delay.ms",
            "producer.id.expiration.check.interval.ms",
            "group.consumer.regex.refresh.interval.ms",
            "log.dir.failure.timeout.ms",
            "server.max.startup.time.ms",
        ],
    ),
    (
        "metrics are served in Prometheus's format, computed as they are scraped",
        &[
            "metrics.num.samples",
            "metrics.recording.level",
            "metrics.sample.window.ms",
            "kafka.metrics.polling.interval.secs",
            "telemetry.max.bytes",
        ],
    ),
    (
        "Java's TLS machinery: shoal's TLS is rustls's",
        &[
            "ssl.keymanager.algorithm",
            "ssl.trustmanager.algorithm",
            "ssl.provider",
            "ssl.secure.random.implementation",
            "ssl.allow.dn.changes",
            "ssl.allow.san.changes",
        ],
    ),
    (
        "the refresh of Kerberos and OAUTHBEARER logins a broker makes itself; shoal's \
         brokers log in to each other with PLAIN or SCRAM",
        &[
            "sasl.login.refresh.buffer.seconds",
            "sasl.login.refresh.min.period.seconds",
            "sasl.login.refresh.window.factor",
            "sasl.login.refresh.window.jitter",
            "sasl.login.connect.timeout.ms",
            "sasl.login.read.timeout.ms",
            "sasl.login.retry.backoff.ms",
            "sasl.login.retry.backoff.max.ms",
            "sasl.oauthbearer.token.endpoint.url",
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
            "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
        ],
    ),
    (
        "GSSAPI (Kerberos) is not served",
        &[
            "sasl.kerberos.kinit.cmd",
            "sasl.kerberos.principal.to.local.rules",
            "sasl.kerberos.service.name",
            "sasl.kerberos.ticket.renew.jitter",
            "sasl.kerberos.ticket.renew.window.factor",
        ],
    ),
    (
        "delegation tokens are not served",
        &[
            "delegation.token.expiry.time.ms",
            "delegation.token.max.lifetime.ms",
            "delegation.token.expiry.check.interval.ms",
        ],
    ),
    (
        "moves between a broker's log directories are not served",
        &[
            "alter.log.dirs.replication.quota.window.num",
            "alter.log.dirs.replication.quota.window.size.seconds",
        ],
    ),
    (
        "tiered storage is not served",
        &[
            "remote.fetch.max.wait.ms",
            "remote.list.offsets.request.timeout.ms",
            "remote.log.index.file.cache.total.size.bytes",
            "remote.log.manager.copier.thread.pool.size",
            "remote.log.manager.copy.max.bytes.per.second",
            "remote.log.manager.copy.quota.window.num",
            "remote.log.manager.copy.quota.window.size.seconds",
            "remote.log.manager.expiration.thread.pool.size",
            "remote.log.manager.fetch.max.bytes.per.second",
            "remote.log.manager.fetch.quota.window.num",
            "remote.log.manager.fetch.quota.window.size.seconds",
            "remote.log.manager.task.interval.ms",
            "remote.log.manager.task.retry.backoff.ms",
            "remote.log.manager.task.retry.backoff.max.ms",
            "remote.log.manager.task.retry.jitter",
            "remote.log.manager.thread.pool.size",
            "remote.log.metadata.custom.metadata.max.bytes",
            "remote.log.metadata.manager.class.name",
            "remote.log.metadata.manager.class.path",
            "remote.log.metadata.manager.impl.prefix",
            "remote.log.metadata.manager.listener.name",
            "remote.log.reader.max.pending.tasks",
            "remote.log.reader.threads",
            "remote.log.storage.manager.class.name",
            "remote.log.storage.manager.class.path",
            "remote.log.storage.manager.impl.prefix",
        ],
    ),
    (
        "share groups are not served",
        &[
            "group.share.delivery.count.limit",
            "group.share.heartbeat.interval.ms",
            "group.share.max.groups",
            "group.share.max.heartbeat.interval.ms",
            "group.share.max.record.lock.duration.ms",
            "group.share.max.session.timeout.ms",
            "group.share.max.size",
            "group.share.min.heartbeat.interval.ms",
            "group.share.min.record.lock.duration.ms",
            "group.share.min.session.timeout.ms",
            "group.share.partition.max.record.locks",
            "group.share.persister.class.name",
            "group.share.record.lock.duration.ms",
            "group.share.session.timeout.ms",
            "share.coordinator.append.linger.ms",
            "share.coordinator.load.buffer.size",
            "share.coordinator.snapshot.update.records.per.snapshot",
            "share.coordinator.state.topic.compression.codec",
            "share.coordinator.state.topic.num.partitions",
            "share.coordinator.state.topic.segment.bytes",
            "share.coordinator.write.timeout.ms",
            "share.fetch.max.fetch.records",
        ],
    ),
];

/// A Java class shoal cannot load (Kafka's own default class is taken: it does what
/// shoal does).
const JAVA_CLASS: &str = "a Java class, which shoal cannot load";

/// Keys accepted only at the values that say what shoal does (Kafka's default first),
/// and why: another value asks for what shoal does not offer.
pub(super) const DEFAULT_ONLY: &[(&str, &[&str], &str)] = &[
    (
        "unclean.leader.election.enable",
        &["false"],
        "shoal reads only the topic's unclean.leader.election.enable, whose default this is",
    ),
    (
        "log.message.timestamp.after.max.ms",
        &["3600000"],
        "shoal reads only the topic's message.timestamp.after.max.ms, whose default this is",
    ),
    (
        "log.message.timestamp.before.max.ms",
        &["9223372036854775807"],
        "shoal reads only the topic's message.timestamp.before.max.ms, whose default this is",
    ),
    (
        "log.cleaner.min.compaction.lag.ms",
        &["0"],
        "shoal reads only the topic's min.compaction.lag.ms, whose default this is",
    ),
    (
        "log.cleaner.max.compaction.lag.ms",
        &["9223372036854775807"],
        "shoal reads only the topic's max.compaction.lag.ms, whose default this is",
    ),
    (
        "log.cleaner.min.cleanable.ratio",
        &["0.5"],
        "shoal reads only the topic's min.cleanable.dirty.ratio, whose default this is",
    ),
    (
        "log.index.size.max.bytes",
        &["10485760"],
        "shoal reads only the topic's segment.index.bytes, whose default this is",
    ),
    (
        "log.segment.delete.delay.ms",
        &["60000"],
        "shoal reads only the topic's file.delete.delay.ms, whose default this is",
    ),
    (
        "log.roll.jitter.ms",
        &["", "0"],
        "shoal reads only the topic's segment.jitter.ms, whose default this is",
    ),
    (
        "log.roll.jitter.hours",
        &["0"],
        "shoal reads only the topic's segment.jitter.ms, whose default this is",
    ),
    ("log.cleaner.enable", &["true"], "the cleaner always runs"),
    (
        "log.cleaner.io.max.bytes.per.second",
        &["1.7976931348623157E308"],
        "the cleaner's reads are not throttled",
    ),
    (
        "log.preallocate",
        &["false"],
        "segments are not preallocated",
    ),
    (
        "log.local.retention.bytes",
        &["-2"],
        "tiered storage is not served",
    ),
    (
        "log.local.retention.ms",
        &["-2"],
        "tiered storage is not served",
    ),
    (
        "remote.log.storage.system.enable",
        &["false"],
        "tiered storage is not served",
    ),
    (
        "group.share.enable",
        &["false"],
        "share groups are not served",
    ),
    (
        "unstable.api.versions.enable",
        &["false"],
        "shoal serves only released API versions",
    ),
    (
        "unstable.feature.versions.enable",
        &["false"],
        "shoal serves only released feature levels",
    ),
    (
        "group.coordinator.rebalance.protocols",
        &["classic,consumer", "classic,consumer,streams"],
        "both group protocols are always served (and streams groups are not)",
    ),
    (
        "group.consumer.assignors",
        &[
            "uniform,range",
            "org.apache.kafka.coordinator.group.assignor.UniformAssignor,\
             org.apache.kafka.coordinator.group.assignor.RangeAssignor",
        ],
        "the consumer protocol's assignors are uniform and range",
    ),
    (
        "group.consumer.max.size",
        &["2147483647"],
        "one bound, group.max.size, holds for both group protocols",
    ),
    (
        "offset.metadata.max.bytes",
        &["4096"],
        "a commit's metadata is bounded at 4096",
    ),
    (
        "max.connection.creation.rate",
        &["2147483647"],
        "connection rates are bounded per address by the ips quota connection_creation_rate",
    ),
    (
        "fetch.max.bytes",
        &["57671680"],
        "a fetch is bounded by its own max_bytes",
    ),
    (
        "max.request.partition.size.limit",
        &["2000"],
        "DescribeTopicPartitions answers at most 2000 partitions",
    ),
    (
        "principal.builder.class",
        &["org.apache.kafka.common.security.authenticator.DefaultKafkaPrincipalBuilder"],
        "principals are built as Kafka's default builder builds them",
    ),
    (
        "delegation.token.secret.key",
        &[""],
        "delegation tokens are not served",
    ),
    (
        "sasl.jaas.config",
        &[""],
        "a broker's logins are listener.name.<listener>.<mechanism>.sasl.jaas.config",
    ),
    ("alter.config.policy.class.name", &[""], JAVA_CLASS),
    ("create.topic.policy.class.name", &[""], JAVA_CLASS),
    ("client.quota.callback.class", &[""], JAVA_CLASS),
    ("security.providers", &[""], JAVA_CLASS),
    (
        "sasl.server.callback.handler.class",
        &[
            "",
            "org.apache.kafka.common.security.plain.internals.PlainServerCallbackHandler",
        ],
        JAVA_CLASS,
    ),
    (
        "sasl.client.callback.handler.class",
        &[
            "",
            "org.apache.kafka.common.security.authenticator.SaslClientCallbackHandler",
        ],
        JAVA_CLASS,
    ),
    (
        "sasl.login.callback.handler.class",
        &[
            "",
            "org.apache.kafka.common.security.authenticator.AbstractLogin$DefaultLoginCallbackHandler",
        ],
        JAVA_CLASS,
    ),
    (
        "sasl.login.class",
        &["", "org.apache.kafka.common.security.authenticator.DefaultLogin"],
        JAVA_CLASS,
    ),
    (
        "ssl.engine.factory.class",
        &["", "org.apache.kafka.common.security.ssl.DefaultSslEngineFactory"],
        JAVA_CLASS,
    ),
];

/// `key` as the table names it, and why it has no meaning here, if it is one of those.
pub(super) fn inert(key: &str) -> Option<(&'static str, &'static str)> {
    INERT_GROUPS.iter().find_map(|(why, keys)| {
        let name = keys.iter().find(|name| **name == key)?;
        Some((*name, *why))
    })
}

/// `key` as the table names it, the values it is accepted at and why, if it is one of
/// those.
pub(super) fn default_only(
    key: &str,
) -> Option<(&'static str, &'static [&'static str], &'static str)> {
    DEFAULT_ONLY
        .iter()
        .find(|(name, _, _)| *name == key)
        .copied()
}

/// Every key of the two tables.
pub(super) fn names() -> impl Iterator<Item = &'static str> {
    INERT_GROUPS
        .iter()
        .flat_map(|(_, keys)| keys.iter().copied())
        .chain(DEFAULT_ONLY.iter().map(|(name, _, _)| *name))
}
