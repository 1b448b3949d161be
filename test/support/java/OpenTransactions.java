import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;

/**
 * The transactions the cluster holds open (state Ongoing) whose transactional id contains a
 * given part, one JSON line each: its transactional id, its producer id and epoch, when it
 * began (ms), and its partitions, each (but Kafka's internal topics) with its last stable offset
 * and its end offset (stable < end: the transaction holds records there). Kafka's own Admin API
 * (KIP-664), which kafkajs does not speak; for tests that must know a stage's transaction was
 * open when its process died. Run with Java's source launcher:
 *   java -cp "$KAFKA_CLASSPATH" test/support/java/OpenTransactions.java <bootstrap> <part> [--stop PID TOPIC]
 * With --stop, it stops the process PID (SIGSTOP) within 200 ms after a transaction has
 * committed to TOPIC, looks, and lets it go on (SIGCONT), again and again (up to a minute), until a look
 * finds one holding records, and again 300 ms later (a commit the process had sent before it
 * stopped ends it meanwhile): then it prints that transaction and leaves the process stopped.
 * Exit 3 if none was caught. The client's security follows the stages' (KAFKA_SECURITY_PROTOCOL,
 * KAFKA_SASL_*, KAFKA_SSL_CA_FILE).
 */
public class OpenTransactions {
  record Open(String id, TransactionDescription d, String json, boolean holding) {}

  public static void main(String[] args) throws Exception {
    String part = args[1];
    long stop = args.length > 4 && args[2].equals("--stop") ? Long.parseLong(args[3]) : -1;
    Properties props = new Properties();
    props.put("bootstrap.servers", args[0]);
    props.put("request.timeout.ms", "15000");
    props.put("default.api.timeout.ms", "30000");
    String protocol = System.getenv("KAFKA_SECURITY_PROTOCOL");
    if (protocol != null && !protocol.isEmpty()) {
      props.put("security.protocol", protocol.toUpperCase().replace('-', '_'));
      String mechanism = System.getenv("KAFKA_SASL_MECHANISM");
      if (mechanism != null && !mechanism.isEmpty()) {
        String upper = mechanism.toUpperCase();
        props.put("sasl.mechanism", upper);
        String module =
            upper.startsWith("SCRAM")
                ? "org.apache.kafka.common.security.scram.ScramLoginModule"
                : "org.apache.kafka.common.security.plain.PlainLoginModule";
        props.put(
            "sasl.jaas.config",
            module + " required username=\""
                + System.getenv("KAFKA_SASL_USERNAME")
                + "\" password=\""
                + System.getenv("KAFKA_SASL_PASSWORD")
                + "\";");
      }
      String ca = System.getenv("KAFKA_SSL_CA_FILE");
      if (ca != null && !ca.isEmpty()) {
        props.put("ssl.truststore.type", "PEM");
        props.put("ssl.truststore.location", ca);
      }
    }
    try (Admin admin = Admin.create(props)) {
      if (stop < 0) {
        for (Open o : look(admin, part)) System.out.println(o.json());
        return;
      }
      // Transactions are short and a stage spends most of its time between them, so it is
      // stopped a random moment within 200 ms after one has committed (the topic's last stable
      // offset moved), when the next may be under way.
      String watch = args[4];
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      int count = admin.describeTopics(List.of(watch)).allTopicNames().get().get(watch).partitions().size();
      for (int i = 0; i < count; i++) latest.put(new TopicPartition(watch, i), OffsetSpec.latest());
      ListOffsetsOptions committed = new ListOffsetsOptions(IsolationLevel.READ_COMMITTED);
      long deadline = System.currentTimeMillis() + 60_000;
      java.util.Random random = new java.util.Random();
      Map<TopicPartition, Long> before = null;
      int stops = 0;
      while (System.currentTimeMillis() < deadline) {
        Map<TopicPartition, Long> now = new HashMap<>();
        admin.listOffsets(latest, committed).all().get().forEach((tp, info) -> now.put(tp, info.offset()));
        boolean moved = before != null && !now.equals(before);
        before = now;
        if (!moved) continue;
        Thread.sleep(random.nextInt(200));
        signal("STOP", stop);
        stops++;
        // what it had sent before it stopped reaches the broker first
        Thread.sleep(300);
        Open seen = look(admin, part).stream().filter(Open::holding).findFirst().orElse(null);
        if (seen != null) {
          // a commit it had sent before it stopped ends the transaction meanwhile: look again
          Thread.sleep(300);
          Open still =
              look(admin, part).stream()
                  .filter(o -> o.holding() && o.id().equals(seen.id())
                      && o.d().transactionStartTimeMs().equals(seen.d().transactionStartTimeMs()))
                  .findFirst()
                  .orElse(null);
          if (still != null) {
            System.out.println(still.json().replaceFirst("^\\{", "{\"stops\":" + stops + ","));
            return;
          }
        }
        signal("CONT", stop);
        before = null;
      }
      System.exit(3);
    }
  }

  static void signal(String which, long pid) throws Exception {
    new ProcessBuilder("kill", "-" + which, Long.toString(pid)).inheritIO().start().waitFor();
  }

  static List<Open> look(Admin admin, String part) throws Exception {
    List<String> ids =
        admin.listTransactions().all().get().stream()
            .filter(l -> l.state() == TransactionState.ONGOING)
            .map(TransactionListing::transactionalId)
            .filter(id -> id.contains(part))
            .collect(Collectors.toList());
    List<Open> found = new ArrayList<>();
    if (ids.isEmpty()) return found;
    for (var e : admin.describeTransactions(ids).all().get().entrySet()) {
      TransactionDescription d = e.getValue();
      if (d.state() != TransactionState.ONGOING) continue;
      // each partition's last stable offset (where read-committed readers stop) and its end:
      // stable < end while a transaction holds records there not yet committed or aborted
      Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
      for (TopicPartition tp : d.topicPartitions())
        if (!tp.topic().startsWith("__")) latest.put(tp, OffsetSpec.latest());
      var stable = admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_COMMITTED)).all().get();
      var end = admin.listOffsets(latest, new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED)).all().get();
      boolean holding = latest.keySet().stream().anyMatch(tp -> stable.get(tp).offset() < end.get(tp).offset());
      String partitions =
          d.topicPartitions().stream()
              .map(
                  tp ->
                      "{\"topic\":\"" + tp.topic() + "\",\"partition\":" + tp.partition()
                          + (latest.containsKey(tp)
                              ? ",\"stable\":" + stable.get(tp).offset() + ",\"end\":" + end.get(tp).offset()
                              : "")
                          + "}")
              .collect(Collectors.joining(","));
      found.add(
          new Open(
              e.getKey(),
              d,
              "{\"transactionalId\":\"" + e.getKey()
                  + "\",\"producerId\":" + d.producerId()
                  + ",\"epoch\":" + d.producerEpoch()
                  + ",\"startedAt\":" + d.transactionStartTimeMs().orElse(-1)
                  + ",\"timeoutMs\":" + d.transactionTimeoutMs()
                  + ",\"partitions\":[" + partitions + "]}",
              holding));
    }
    return found;
  }
}
