import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jsmpp.SMPPConstant;
import org.jsmpp.bean.BroadcastSm;
import org.jsmpp.bean.CancelBroadcastSm;
import org.jsmpp.bean.CancelSm;
import org.jsmpp.bean.DataCodings;
import org.jsmpp.bean.DataSm;
import org.jsmpp.bean.DeliveryReceipt;
import org.jsmpp.bean.ESMClass;
import org.jsmpp.bean.GSMSpecificFeature;
import org.jsmpp.bean.MessageMode;
import org.jsmpp.bean.MessageType;
import org.jsmpp.bean.NumberingPlanIndicator;
import org.jsmpp.bean.OptionalParameter;
import org.jsmpp.bean.QueryBroadcastSm;
import org.jsmpp.bean.QuerySm;
import org.jsmpp.bean.RegisteredDelivery;
import org.jsmpp.bean.ReplaceSm;
import org.jsmpp.bean.SubmitMulti;
import org.jsmpp.bean.SubmitSm;
import org.jsmpp.bean.TypeOfNumber;
import org.jsmpp.extra.ProcessRequestException;
import org.jsmpp.session.BindRequest;
import org.jsmpp.session.BroadcastSmResult;
import org.jsmpp.session.DataSmResult;
import org.jsmpp.session.QueryBroadcastSmResult;
import org.jsmpp.session.QuerySmResult;
import org.jsmpp.session.SMPPServerSession;
import org.jsmpp.session.SMPPServerSessionListener;
import org.jsmpp.session.ServerMessageReceiverListener;
import org.jsmpp.session.Session;
import org.jsmpp.session.connection.ServerConnection;
import org.jsmpp.session.connection.ServerConnectionFactory;
import org.jsmpp.session.connection.socket.ServerSocketConnection;
import org.jsmpp.session.SubmitMultiResult;
import org.jsmpp.session.SubmitSmResult;
import org.jsmpp.util.DeliveryReceiptState;
import org.jsmpp.util.MessageId;

/**
 * SMSC simulator for tests and local runs, on jSMPP (independent of the project's SMPP client).
 *
 * <p>SMPP 3.4 on --port: bind_transmitter/receiver/transceiver, submit_sm with message ids,
 * enquire_link (answered by jSMPP), delivery receipts as deliver_sm. Behaviour is chosen per
 * bound system_id, so each test binds with its own id and sets its own rules over HTTP on
 * --control-port:
 *
 * <pre>
 *   GET    /health
 *   POST   /rules?systemId=ID&amp;mode=normal|throttle|queue-full|reject|drop|no-receipt|down
 *                 &amp;count=N          (mode applies to the next N submits; default: until cleared)
 *                 &amp;status=N         (reject: command_status, default ESME_RINVDSTADR 0x0B)
 *                 &amp;afterSubmits=N   (drop: accept N submits first, then drop the connection)
 *                 &amp;hold=W           (drop: after those N, leave the next W submits unanswered and
 *                                    drop the connection once W are outstanding: a full window lost)
 *                 &amp;receiptState=DELIVRD|EXPIRED|DELETED|UNDELIV|ACCEPTD|UNKNOWN|REJECTD
 *                 &amp;receiptDelayMs=N &amp;receiptIdFormat=hex|decimal
 *                 &amp;respondDelayMs=N  (answer each submit_sm after N ms, so a window fills)
 *                 (down: the provider is gone: its sessions closed at once, binds refused)
 *   DELETE /rules?systemId=ID
 *   GET    /messages?systemId=ID   (every submit_sm accepted, as JSON, with receivedAt in epoch ms)
 *   GET    /stats?systemId=ID      (counters: submits, accepted, refused, receipts, receiptFailures,
 *                                    binds, drops; maxInFlight: the most submit_sm of this system
 *                                    id being answered at once, over all its sessions)
 * </pre>
 *
 * Message ids are hex strings; receiptIdFormat=decimal reports them in decimal in the receipt
 * text, as some SMSCs do, so clients can be tested on normalising both forms.
 */
public final class SmscSimulator {

  static final class Rules {
    volatile String mode = "normal";
    volatile long remaining = -1; // -1 = until cleared
    volatile int status = SMPPConstant.STAT_ESME_RINVDSTADR;
    volatile long afterSubmits = 0;
    volatile int hold = 0;
    volatile String receiptState = "DELIVRD";
    volatile long receiptDelayMs = 20;
    volatile String receiptIdFormat = "hex";
    volatile long respondDelayMs = 0;
  }

  static final class Stats {
    final AtomicLong submits = new AtomicLong();
    final AtomicLong accepted = new AtomicLong();
    final AtomicLong refused = new AtomicLong();
    final AtomicLong receipts = new AtomicLong();
    final AtomicLong receiptFailures = new AtomicLong();
    final AtomicLong binds = new AtomicLong();
    final AtomicLong drops = new AtomicLong();
    final AtomicLong inFlight = new AtomicLong();
    final AtomicLong maxInFlight = new AtomicLong();
  }

  static final Map<String, Rules> RULES = new ConcurrentHashMap<>();
  static final Map<String, Stats> STATS = new ConcurrentHashMap<>();
  static final Map<String, List<String>> MESSAGES = new ConcurrentHashMap<>();
  static final AtomicLong NEXT_ID = new AtomicLong(0x10000000L + (System.nanoTime() & 0xFFFFFFL));
  /**
   * Receipts go out as a real SMSC sends them: several deliver_sm under way at once (each thread
   * waits for its deliver_sm_resp), not one after another.
   */
  static final ScheduledExecutorService RECEIPTS = Executors.newScheduledThreadPool(10);
  static final ExecutorService SESSIONS = Executors.newCachedThreadPool();

  static Rules rules(String systemId) {
    return RULES.computeIfAbsent(systemId, k -> new Rules());
  }

  static Stats stats(String systemId) {
    return STATS.computeIfAbsent(systemId, k -> new Stats());
  }

  public static void main(String[] args) throws Exception {
    int port = 2775;
    int controlPort = 2776;
    for (int i = 0; i < args.length - 1; i++) {
      if (args[i].equals("--port")) port = Integer.parseInt(args[i + 1]);
      if (args[i].equals("--control-port")) controlPort = Integer.parseInt(args[i + 1]);
    }
    startControl(controlPort);
    try (SMPPServerSessionListener listener = new SMPPServerSessionListener(port, new LoopbackOnly())) {
      // Enough PDU threads per session that submits held unanswered (drop with hold=W) do not
      // stop the session from reading the rest of a client's window.
      listener.setPduProcessorDegree(32);
      System.out.println("SMSC simulator listening on " + port + ", control on " + controlPort);
      while (true) {
        SMPPServerSession session = listener.accept();
        SESSIONS.submit(() -> serve(session));
      }
    }
  }

  static void serve(SMPPServerSession session) {
    try {
      BindRequest bind = session.waitForBind(10_000);
      String systemId = bind.getSystemId();
      if (rules(systemId).mode.equals("down")) {
        // a provider that is gone: every bind refused until the rules are cleared
        bind.reject(SMPPConstant.STAT_ESME_RBINDFAIL);
        session.close();
        return;
      }
      session.setMessageReceiverListener(new Receiver(systemId));
      bind.accept("SMSCSIM");
      stats(systemId).binds.incrementAndGet();
      BOUND.computeIfAbsent(systemId, k -> ConcurrentHashMap.newKeySet()).add(session);
      deliverPending(systemId);
      System.out.println("bound " + bind.getBindType() + " system_id=" + systemId);
    } catch (Exception e) {
      System.out.println("bind failed: " + e);
      session.close();
    }
  }

  /** jSMPP's default factory binds every interface; the local stack serves 127.0.0.1 only. */
  static final class LoopbackOnly implements ServerConnectionFactory {
    @Override
    public ServerConnection listen(int port) throws IOException {
      return listen(port, 0, 50);
    }

    @Override
    public ServerConnection listen(int port, int timeout) throws IOException {
      return listen(port, timeout, 50);
    }

    @Override
    public ServerConnection listen(int port, int timeout, int backlog) throws IOException {
      ServerSocket socket = new ServerSocket(port, backlog, InetAddress.getLoopbackAddress());
      socket.setSoTimeout(timeout);
      return new ServerSocketConnection(socket);
    }
  }

  /** Bound sessions per system_id, and receipts that found none: an SMSC keeps a receipt
   *  for its system_id until a transceiver session of it is bound again. */
  static final Map<String, java.util.Set<SMPPServerSession>> BOUND = new ConcurrentHashMap<>();
  static final Map<String, java.util.Queue<java.util.function.Consumer<SMPPServerSession>>> PENDING =
      new ConcurrentHashMap<>();

  static SMPPServerSession liveSession(String systemId, SMPPServerSession preferred) {
    if (preferred.getSessionState().isBound()) return preferred;
    for (SMPPServerSession s : BOUND.getOrDefault(systemId, java.util.Set.of())) {
      if (s.getSessionState().isBound()) return s;
    }
    return null;
  }

  static void deliverPending(String systemId) {
    java.util.Queue<java.util.function.Consumer<SMPPServerSession>> q = PENDING.get(systemId);
    if (q == null) return;
    java.util.function.Consumer<SMPPServerSession> task;
    while ((task = q.poll()) != null) {
      final java.util.function.Consumer<SMPPServerSession> t = task;
      RECEIPTS.schedule(
          () -> {
            SMPPServerSession live = firstBound(systemId);
            if (live == null) PENDING.computeIfAbsent(systemId, k -> new java.util.concurrent.ConcurrentLinkedQueue<>()).add(t);
            else t.accept(live);
          },
          100,
          TimeUnit.MILLISECONDS);
    }
  }

  /** Keeps a receipt for the system id; if a session is bound by now, it goes out at once. */
  static void keep(String systemId, java.util.function.Consumer<SMPPServerSession> task) {
    PENDING.computeIfAbsent(systemId, k -> new java.util.concurrent.ConcurrentLinkedQueue<>()).add(task);
    SMPPServerSession first = firstBound(systemId);
    if (first != null) deliverPending(systemId);
  }

  static SMPPServerSession firstBound(String systemId) {
    for (SMPPServerSession s : BOUND.getOrDefault(systemId, java.util.Set.of())) {
      if (s.getSessionState().isBound()) return s;
    }
    return null;
  }

  static SMPPServerSession firstSession(String systemId) {
    for (SMPPServerSession s : BOUND.getOrDefault(systemId, java.util.Set.of())) return s;
    return null;
  }

  static final class Receiver implements ServerMessageReceiverListener {
    final String systemId;
    /** submits of this session held unanswered by drop with hold=W */
    int held = 0;
    boolean dropped = false;

    Receiver(String systemId) {
      this.systemId = systemId;
    }

    @Override
    public SubmitSmResult onAcceptSubmitSm(SubmitSm sm, SMPPServerSession session)
        throws ProcessRequestException {
      Stats s = stats(systemId);
      long now = s.inFlight.incrementAndGet();
      s.maxInFlight.accumulateAndGet(now, Math::max);
      try {
        long delay = rules(systemId).respondDelayMs;
        if (delay > 0) {
          try {
            Thread.sleep(delay);
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          }
        }
        return accept(sm, session);
      } finally {
        s.inFlight.decrementAndGet();
      }
    }

    SubmitSmResult accept(SubmitSm sm, SMPPServerSession session) throws ProcessRequestException {
      Rules r = rules(systemId);
      Stats s = stats(systemId);
      long n = s.submits.incrementAndGet();
      String mode = r.mode;
      if (mode.equals("down")) {
        session.close();
        throw new ProcessRequestException("down", SMPPConstant.STAT_ESME_RSYSERR);
      }
      boolean applies = !mode.equals("normal") && r.remaining != 0;
      if (applies && mode.equals("drop") && n > r.afterSubmits && r.hold > 0) {
        // Hold this submit unanswered; the W-th one held drops the connection, so the client
        // loses a full window of submits whose fate it cannot know.
        synchronized (this) {
          held++;
          if (held >= r.hold && !dropped) {
            dropped = true;
            if (r.remaining > 0) r.remaining--;
            s.drops.incrementAndGet();
            session.close();
            notifyAll();
          }
          long until = System.currentTimeMillis() + 10_000;
          while (!dropped && System.currentTimeMillis() < until) {
            try {
              wait(until - System.currentTimeMillis());
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
              break;
            }
          }
        }
        throw new ProcessRequestException("dropped", SMPPConstant.STAT_ESME_RSYSERR);
      }
      if (applies && mode.equals("drop") && n > r.afterSubmits) {
        if (r.remaining > 0) r.remaining--;
        s.drops.incrementAndGet();
        // Close the socket without answering: the client sees the connection drop mid-window.
        session.close();
        throw new ProcessRequestException("dropped", SMPPConstant.STAT_ESME_RSYSERR);
      }
      if (applies && (mode.equals("throttle") || mode.equals("queue-full") || mode.equals("reject"))) {
        if (r.remaining > 0) r.remaining--;
        s.refused.incrementAndGet();
        int status =
            mode.equals("throttle")
                ? SMPPConstant.STAT_ESME_RTHROTTLED
                : mode.equals("queue-full") ? SMPPConstant.STAT_ESME_RMSGQFUL : r.status;
        throw new ProcessRequestException(mode, status);
      }
      boolean receipt = true;
      if (applies && mode.equals("no-receipt")) {
        if (r.remaining > 0) r.remaining--;
        receipt = false;
      }
      String id = Long.toHexString(NEXT_ID.incrementAndGet()).toUpperCase();
      MESSAGES.computeIfAbsent(systemId, k -> new CopyOnWriteArrayList<>()).add(describe(id, sm));
      s.accepted.incrementAndGet();
      if (receipt && (sm.getRegisteredDelivery() & 0x03) != 0) {
        scheduleReceipt(session, sm, id, r);
      }
      try {
        return new SubmitSmResult(new MessageId(id), new OptionalParameter[0]);
      } catch (Exception e) {
        throw new ProcessRequestException(e.getMessage(), SMPPConstant.STAT_ESME_RSYSERR);
      }
    }

    void scheduleReceipt(SMPPServerSession session, SubmitSm sm, String id, Rules r) {
      String state = r.receiptState;
      String reportedId = r.receiptIdFormat.equals("decimal") ? Long.toString(Long.parseLong(id, 16)) : id;
      final java.util.function.Consumer<SMPPServerSession> send =
          new java.util.function.Consumer<SMPPServerSession>() {
            @Override
            public void accept(SMPPServerSession target) {
              try {
                Date now = new Date();
                DeliveryReceiptState st = DeliveryReceiptState.valueOf(state);
                int delivered = st == DeliveryReceiptState.DELIVRD ? 1 : 0;
                DeliveryReceipt dr = new DeliveryReceipt(reportedId, 1, delivered, now, now, st, "000", "");
                target.deliverShortMessage(
                    "",
                    TypeOfNumber.valueOf(sm.getDestAddrTon()),
                    NumberingPlanIndicator.valueOf(sm.getDestAddrNpi()),
                    sm.getDestAddress(),
                    TypeOfNumber.valueOf(sm.getSourceAddrTon()),
                    NumberingPlanIndicator.valueOf(sm.getSourceAddrNpi()),
                    sm.getSourceAddr(),
                    new ESMClass(MessageMode.DEFAULT, MessageType.SMSC_DEL_RECEIPT, GSMSpecificFeature.DEFAULT),
                    (byte) 0,
                    (byte) 0,
                    new RegisteredDelivery(0),
                    DataCodings.ZERO,
                    dr.toString().getBytes(StandardCharsets.US_ASCII),
                    new OptionalParameter.COctetString(OptionalParameter.Tag.RECEIPTED_MESSAGE_ID.code(), id));
                // Counted once the client has answered it.
                stats(systemId).receipts.incrementAndGet();
              } catch (Exception e) {
                stats(systemId).receiptFailures.incrementAndGet();
                System.out.println("receipt for " + id + " kept for the next bind: " + e);
                keep(systemId, this);
              }
            }
          };
      RECEIPTS.schedule(
          () -> {
            SMPPServerSession live = liveSession(systemId, session);
            if (live == null) {
              keep(systemId, send);
            } else {
              send.accept(live);
            }
          },
          r.receiptDelayMs,
          TimeUnit.MILLISECONDS);
    }

    @Override
    public SubmitMultiResult onAcceptSubmitMulti(SubmitMulti sm, SMPPServerSession s)
        throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public QuerySmResult onAcceptQuerySm(QuerySm q, SMPPServerSession s) throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public void onAcceptReplaceSm(ReplaceSm r, SMPPServerSession s) throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public void onAcceptCancelSm(CancelSm c, SMPPServerSession s) throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public BroadcastSmResult onAcceptBroadcastSm(BroadcastSm b, SMPPServerSession s)
        throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public void onAcceptCancelBroadcastSm(CancelBroadcastSm c, SMPPServerSession s)
        throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public QueryBroadcastSmResult onAcceptQueryBroadcastSm(QueryBroadcastSm q, SMPPServerSession s)
        throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }

    @Override
    public DataSmResult onAcceptDataSm(DataSm d, Session s) throws ProcessRequestException {
      throw new ProcessRequestException("not supported", SMPPConstant.STAT_ESME_RINVCMDID);
    }
  }

  static String describe(String id, SubmitSm sm) {
    byte[] body = sm.getShortMessage() == null ? new byte[0] : sm.getShortMessage();
    StringBuilder hex = new StringBuilder();
    for (byte b : body) hex.append(String.format("%02x", b));
    return "{"
        + json("messageId", id) + ","
        + json("sourceAddr", sm.getSourceAddr()) + ","
        + "\"sourceTon\":" + sm.getSourceAddrTon() + ","
        + "\"sourceNpi\":" + sm.getSourceAddrNpi() + ","
        + json("destAddr", sm.getDestAddress()) + ","
        + "\"destTon\":" + sm.getDestAddrTon() + ","
        + "\"destNpi\":" + sm.getDestAddrNpi() + ","
        + "\"esmClass\":" + (sm.getEsmClass() & 0xFF) + ","
        + "\"udhi\":" + sm.isUdhi() + ","
        + "\"dataCoding\":" + (sm.getDataCoding() & 0xFF) + ","
        + "\"registeredDelivery\":" + (sm.getRegisteredDelivery() & 0xFF) + ","
        + json("validityPeriod", sm.getValidityPeriod()) + ","
        + json("shortMessageHex", hex.toString()) + ","
        + "\"receivedAt\":" + System.currentTimeMillis()
        + "}";
  }

  static String json(String k, String v) {
    if (v == null) return "\"" + k + "\":null";
    StringBuilder sb = new StringBuilder("\"").append(k).append("\":\"");
    for (char c : v.toCharArray()) {
      if (c == '"' || c == '\\') sb.append('\\').append(c);
      else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    return sb.append('"').toString();
  }

  static Map<String, String> query(HttpExchange ex) {
    Map<String, String> q = new HashMap<>();
    String raw = ex.getRequestURI().getRawQuery();
    if (raw == null) return q;
    for (String part : raw.split("&")) {
      int eq = part.indexOf('=');
      if (eq <= 0) continue;
      q.put(
          URLDecoder.decode(part.substring(0, eq), StandardCharsets.UTF_8),
          URLDecoder.decode(part.substring(eq + 1), StandardCharsets.UTF_8));
    }
    return q;
  }

  static void reply(HttpExchange ex, int code, String body) throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("content-type", "application/json");
    ex.sendResponseHeaders(code, bytes.length);
    try (OutputStream os = ex.getResponseBody()) {
      os.write(bytes);
    }
  }

  static void startControl(int port) throws IOException {
    HttpServer http = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 64);
    http.createContext("/health", ex -> reply(ex, 200, "{\"status\":\"ok\"}"));
    http.createContext(
        "/rules",
        ex -> {
          Map<String, String> q = query(ex);
          String systemId = q.get("systemId");
          if (systemId == null) {
            reply(ex, 400, "{\"error\":\"systemId is required\"}");
            return;
          }
          if (ex.getRequestMethod().equals("DELETE")) {
            RULES.remove(systemId);
            reply(ex, 200, "{}");
            return;
          }
          Rules r = new Rules();
          try {
            if (q.containsKey("mode")) r.mode = q.get("mode");
            if (!List.of("normal", "throttle", "queue-full", "reject", "drop", "no-receipt", "down").contains(r.mode))
              throw new IllegalArgumentException("unknown mode " + r.mode);
            if (q.containsKey("count")) r.remaining = Long.parseLong(q.get("count"));
            if (q.containsKey("status")) r.status = Integer.decode(q.get("status"));
            if (q.containsKey("afterSubmits")) r.afterSubmits = Long.parseLong(q.get("afterSubmits"));
            if (q.containsKey("hold")) r.hold = Integer.parseInt(q.get("hold"));
            if (q.containsKey("receiptState")) {
              DeliveryReceiptState.valueOf(q.get("receiptState"));
              r.receiptState = q.get("receiptState");
            }
            if (q.containsKey("receiptDelayMs")) r.receiptDelayMs = Long.parseLong(q.get("receiptDelayMs"));
            if (q.containsKey("receiptIdFormat")) r.receiptIdFormat = q.get("receiptIdFormat");
            if (q.containsKey("respondDelayMs")) r.respondDelayMs = Long.parseLong(q.get("respondDelayMs"));
          } catch (IllegalArgumentException e) {
            reply(ex, 400, "{" + json("error", e.getMessage()) + "}");
            return;
          }
          RULES.put(systemId, r);
          if (r.mode.equals("down")) {
            // gone at once: its sessions closed, submits under way left unanswered
            for (SMPPServerSession live : BOUND.getOrDefault(systemId, java.util.Set.of())) live.close();
          }
          reply(ex, 200, "{}");
        });
    http.createContext(
        "/messages",
        ex -> {
          String systemId = query(ex).getOrDefault("systemId", "");
          List<String> list = MESSAGES.getOrDefault(systemId, new ArrayList<>());
          reply(ex, 200, "[" + String.join(",", list) + "]");
        });
    http.createContext(
        "/stats",
        ex -> {
          Stats s = stats(query(ex).getOrDefault("systemId", ""));
          reply(
              ex,
              200,
              String.format(
                  "{\"submits\":%d,\"accepted\":%d,\"refused\":%d,\"receipts\":%d,\"receiptFailures\":%d,"
                      + "\"binds\":%d,\"drops\":%d,\"maxInFlight\":%d}",
                  s.submits.get(), s.accepted.get(), s.refused.get(), s.receipts.get(), s.receiptFailures.get(),
                  s.binds.get(), s.drops.get(), s.maxInFlight.get()));
        });
    http.setExecutor(Executors.newFixedThreadPool(4));
    http.start();
  }
}
