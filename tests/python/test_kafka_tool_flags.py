"""Every flag Kafka 4.0/4.1's scripts take, as their option parsers declare them, asked of
the shoal tool that stands for each script: shoal takes it (under its name, an alias or
an unambiguous prefix, as Kafka's joptsimple does), or it is listed below as not taken,
with why. A flag shoal starts taking must leave that list, so the list stays true.

A flag is taken when the tool's parser does not answer "unexpected argument" for it
(a missing value, or the help the flag is followed by, both show it was read)."""

from __future__ import annotations

import subprocess

import pytest

from conftest import shoal_bin

# Kafka 4.0/4.1's option declarations (TopicCommandOptions, ConsoleProducerOptions,
# ConsoleConsumerOptions, ConsumerGroupCommandOptions, ConfigCommand, AclCommand,
# GetOffsetShell, DumpLogSegments, DeleteRecordsCommand, LogDirsCommand,
# LeaderElectionCommand, ReassignPartitionsCommandOptions, MetadataQuorumCommand,
# TransactionsCommand, ProducerPerformance, ConsumerPerformance, VerifiableProducer,
# VerifiableConsumer), keyed by the shoal command line that stands for the script.
KAFKA_FLAGS = {
    "topics": "--bootstrap-server --command-config --list --create --delete --alter --describe --topic --topic-id "
              "--config --delete-config --partitions --replication-factor --replica-assignment "
              "--under-replicated-partitions --unavailable-partitions --under-min-isr-partitions "
              "--at-min-isr-partitions --topics-with-overrides --if-exists --if-not-exists --exclude-internal "
              "--partition-size-limit-per-response --help --version",
    "produce": "--topic --bootstrap-server --sync --compression-codec --batch-size --message-send-max-retries "
               "--retry-backoff-ms --timeout --request-required-acks --request-timeout-ms --metadata-expiry-ms "
               "--max-block-ms --max-memory-bytes --max-partition-memory-bytes --line-reader --socket-buffer-size "
               "--property --reader-config --producer-property --producer.config --help --version",
    "consume": "--topic --include --partition --offset --consumer-property --consumer.config --formatter --property "
               "--formatter-config --from-beginning --max-messages --timeout-ms --skip-message-on-error "
               "--bootstrap-server --key-deserializer --value-deserializer --enable-systest-events "
               "--isolation-level --group --help --version",
    "groups": "--bootstrap-server --group --topic --all-topics --list --describe --all-groups --delete --timeout "
              "--command-config --reset-offsets --delete-offsets --dry-run --execute --export --to-offset --from-file "
              "--to-datetime --by-duration --to-earliest --to-latest --to-current --shift-by --members --verbose "
              "--offsets --state --type --help --version",
    "configs": "--bootstrap-server --bootstrap-controller --command-config --alter --describe --all --entity-type "
               "--entity-name --entity-default --add-config --add-config-file --delete-config --force --topic --client "
               "--client-defaults --user --user-defaults --broker --broker-defaults --broker-logger --ip-defaults "
               "--ip --group --client-metrics --help --version",
    "acls": "--bootstrap-server --bootstrap-controller --command-config --topic --cluster --group --transactional-id "
            "--idempotent --delegation-token --resource-pattern-type --add --remove --list --operation "
            "--allow-principal --deny-principal --principal --allow-host --deny-host --producer --consumer --force "
            "--user-principal --help --version",
    "get-offsets": "--bootstrap-server --topic-partitions --topic --partitions --time --command-config "
                   "--exclude-internal-topics --help --version",
    "dump-log": "--print-data-log --verify-index-only --index-sanity-check --files --max-message-size --max-bytes "
                "--deep-iteration --value-decoder-class --key-decoder-class --offsets-decoder "
                "--transaction-log-decoder --cluster-metadata-decoder --remote-log-metadata-decoder "
                "--share-group-state-decoder --skip-record-metadata --help --version",
    "delete-records": "--bootstrap-server --offset-json-file --command-config --help --version",
    "log-dirs": "--bootstrap-server --command-config --describe --topic-list --broker-list --help --version",
    "leader-election": "--bootstrap-server --admin.config --path-to-json-file --topic --partition "
                       "--all-topic-partitions --election-type --help --version",
    "reassign": "--verify --generate --execute --cancel --list --bootstrap-server --command-config "
                "--reassignment-json-file --topics-to-move-json-file --broker-list --disable-rack-aware --throttle "
                "--replica-alter-log-dirs-throttle --timeout --additional --preserve-throttles --help --version",
    "metadata-quorum": "--help --bootstrap-server --bootstrap-controller --command-config",
    "metadata-quorum describe": "--help --status --replication --human-readable",
    "metadata-quorum add-controller": "--help --dry-run",
    "metadata-quorum remove-controller": "--help --controller-id --controller-directory-id --dry-run",
    "transactions": "--help --version --command-config --bootstrap-server",
    "transactions list": "--help --duration-filter --transactional-id-pattern",
    "transactions describe": "--help --transactional-id",
    "transactions describe-producers": "--help --broker-id --topic --partition",
    "transactions abort": "--help --topic --partition --start-offset --producer-id --producer-epoch "
                          "--coordinator-epoch",
    "transactions find-hanging": "--help --broker-id --max-transaction-timeout --topic --partition",
    "producer-perf-test": "--help --topic --num-records --record-size --payload-file --payload-monotonic "
                          "--payload-delimiter --throughput --producer-props --producer.config --print-metrics "
                          "--transactional-id --transaction-duration-ms --warmup-records",
    "consumer-perf-test": "--bootstrap-server --topic --group --fetch-size --from-latest --socket-buffer-size "
                          "--consumer.config --print-metrics --show-detailed-stats --timeout --messages "
                          "--reporting-interval --date-format --hide-header --help --version",
    "verifiable-producer": "--help --topic --bootstrap-server --max-messages --throughput --acks --producer.config "
                           "--message-create-time --value-prefix --repeating-keys",
    "verifiable-consumer": "--help --bootstrap-server --topic --group-protocol --group-remote-assignor --group-id "
                           "--group-instance-id --max-messages --session-timeout --verbose --enable-autocommit "
                           "--reset-policy --assignment-strategy --consumer.config",
}

# The flags shoal does not take, and why.
# KIP-919's flag: the tool talks to the controllers' listener. shoal's speaks the quorum's
# own protocol, not Kafka's; the tools take --bootstrap-server, and every node answers them.
CONTROLLER_LISTENER = "the controller listener speaks the quorum's protocol: name a client listener"

NOT_TAKEN = {
    ("topics", "--partition-size-limit-per-response"): "DescribeTopicPartitions' page size; shoal asks Metadata",
    ("topics", "--delete-config"): "Kafka 4 refuses it too ('no longer supported'): configs --alter",
    ("produce", "--line-reader"): "a Java class; shoal reads lines as Kafka's LineMessageReader does",
    ("consume", "--key-deserializer"): "a Java class; shoal prints keys as bytes (UTF-8)",
    ("consume", "--value-deserializer"): "a Java class; shoal prints values as bytes (UTF-8)",
    ("configs", "--bootstrap-controller"): CONTROLLER_LISTENER,
    ("configs", "--force"): "ZooKeeper's; gone in Kafka 4.1",
    ("configs", "--client-metrics"): "KIP-714's client metrics resources: not served",
    ("acls", "--bootstrap-controller"): CONTROLLER_LISTENER,
    ("acls", "--delegation-token"): "delegation tokens are not served",
    ("acls", "--user-principal"): "delegation tokens' user resources are not served",
    ("dump-log", "--value-decoder-class"): "a Java class",
    ("dump-log", "--key-decoder-class"): "a Java class",
    ("dump-log", "--cluster-metadata-decoder"): "shoal's metadata log is its own format",
    ("dump-log", "--remote-log-metadata-decoder"): "tiered storage is not served",
    ("dump-log", "--share-group-state-decoder"): "share groups are not served",
    ("reassign", "--replica-alter-log-dirs-throttle"): "moves between a broker's log dirs are not served",
    ("reassign", "--timeout"): "only for moves between a broker's log dirs",
    ("metadata-quorum", "--bootstrap-controller"): CONTROLLER_LISTENER,
}

CASES = [(tool, flag) for tool, flags in KAFKA_FLAGS.items() for flag in flags.split()]


def taken(tool: str, flag: str) -> bool:
    cp = subprocess.run([str(shoal_bin()), *tool.split(), flag, "--help"], capture_output=True, timeout=30)
    return f"unexpected argument '{flag}'".encode() not in cp.stderr


@pytest.mark.parametrize("tool,flag", CASES, ids=[f"{t}:{f}" for t, f in CASES])
def test_each_kafka_flag_is_taken_or_listed_as_not(tool, flag):
    if (tool, flag) in NOT_TAKEN:
        assert not taken(tool, flag), f"shoal {tool} takes {flag} now: take it off NOT_TAKEN"
    else:
        assert taken(tool, flag), f"shoal {tool} does not take Kafka's {flag}"


def test_the_list_of_flags_not_taken_names_only_kafkas():
    assert set(NOT_TAKEN) <= set(CASES)
