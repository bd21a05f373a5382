// The real dispatcher against tests/webhooks/receiver.js, which checks every request with the
// `standardwebhooks` npm package: an implementation of the standard that is not ours.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "delivery/delivery_dispatcher.hpp"
#include "tests/delivery/delivery_fixture_test.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/webhook_receiver.hpp"

namespace extract::delivery {
namespace {

using extract::testing::ChildProcess;
using extract::testing::on_path;
using extract::testing::Receiver;
using extract::testing::TempDir;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::kSecretA;
using testing::kSecretB;
using Steady = std::chrono::steady_clock;

const std::string kSecretC = "whsec_bm90IGEgc2VjcmV0IGV4dHJhY3Qtc3luYyBrbm93cw==";

class DeliveryReceiverTest : public ::testing::Test {
protected:
    std::unique_ptr<DeliveryDispatcher> dispatcher(std::vector<WebhookTarget> hooks) {
        return std::make_unique<DeliveryDispatcher>(DeliveryOptions{outbox.path(), "", "extract-sync/test"},
                                                    DeliveryTargets{std::move(hooks), {}}, clock);
    }
    bool in_state(std::int64_t id, const std::string& state) { return outbox.delivery(id).state == state; }

    TempDir dir;
    testing::Outbox outbox{dir.path()};
    SystemClock clock;
};

TEST_F(DeliveryReceiverTest, SignaturesVerifyWithAnIndependentImplementationForEverySecret) {
    // A receiver that knows both secrets of a rotation (and one we never use), and one that
    // already has only the new secret.
    Receiver both(dir, "both", {"--secret", kSecretA, "--secret", kSecretB, "--secret", kSecretC});
    Receiver rotated(dir, "rotated", {"--secret", kSecretB});
    auto both_hook = testing::webhook_config("both", both.url() + "?from=extract%2Dsync#fragment");
    both_hook.secrets = {kSecretA, kSecretB};
    auto rotated_hook = testing::webhook_config("rotated", rotated.url());
    rotated_hook.secrets = {kSecretA, kSecretB};
    const auto created = outbox.add_event("bat_1", "pending", "", {"webhook.both", "webhook.rotated"});
    const auto changed = outbox.add_event("bat_1", "completed", "pending", {"webhook.both", "webhook.rotated"});
    auto d = dispatcher({both_hook, rotated_hook});
    d->start();

    ASSERT_TRUE(both.wait_for_requests(2));
    ASSERT_TRUE(rotated.wait_for_requests(2));
    const std::int64_t now_s = std::chrono::duration_cast<seconds>(clock.now().time_since_epoch()).count();
    // Up to max_in_flight requests are in flight at once, so they may arrive in any order.
    std::map<std::string, json> by_id;
    for (const auto& r : both.requests()) by_id[r["headers"]["webhook-id"].get<std::string>()] = r;
    for (const auto* event : {&created, &changed}) {
        ASSERT_TRUE(by_id.contains(event->id)) << event->id;
        const auto& r = by_id[event->id];
        EXPECT_EQ(r["verified"], json::array({true, true, false})) << r.dump();
        EXPECT_EQ(r["method"], "POST");
        EXPECT_EQ(r["url"], "/hooks/extract?from=extract%2Dsync") << "as written, without the fragment";
        EXPECT_EQ(r["body"], event->payload);
        EXPECT_EQ(r["headers"]["content-type"], "application/json");
        EXPECT_EQ(r["headers"]["user-agent"], "extract-sync/test");
        EXPECT_NEAR(static_cast<double>(std::stoll(r["headers"]["webhook-timestamp"].get<std::string>())),
                    static_cast<double>(now_s), 30);
        const auto signature = r["headers"]["webhook-signature"].get<std::string>();
        EXPECT_EQ(std::count(signature.begin(), signature.end(), ' '), 1) << "two signatures: " << signature;
    }
    for (const auto& r : rotated.requests()) EXPECT_EQ(r["verified"], json::array({true})) << r.dump();
    EXPECT_TRUE(testing::eventually([&] { return in_state(changed.deliveries[1], "delivered"); }));
}

TEST_F(DeliveryReceiverTest, TwoServerErrorsThenDeliveredOnTheThirdAttempt) {
    Receiver receiver(dir, "flaky", {"--secret", kSecretA, "--respond", "500", "--respond", "500", "--respond", "200"});
    const auto event = outbox.add_event("bat_1", "completed", "running", {"webhook.flaky"});
    auto d = dispatcher(
        {testing::webhook_config("flaky", receiver.url(), {milliseconds{100}, milliseconds{100}, milliseconds{100}})});
    d->start();

    ASSERT_TRUE(testing::eventually([&] { return in_state(event.deliveries[0], "delivered"); }));
    const auto row = outbox.delivery(event.deliveries[0]);
    EXPECT_EQ(row.attempts, 3);
    EXPECT_EQ(row.last_status, 200);
    const auto attempts = outbox.attempts(event.deliveries[0]);
    ASSERT_EQ(attempts.size(), 3u);
    EXPECT_EQ(attempts[0].status, 500);
    EXPECT_EQ(attempts[0].error, "HTTP 500: answer 500");
    EXPECT_EQ(attempts[1].status, 500);
    EXPECT_EQ(attempts[2].status, 200);
    const auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 3u);
    for (const auto& r : requests) {
        EXPECT_EQ(r["headers"]["webhook-id"], event.id) << "the same id on every attempt";
        EXPECT_EQ(r["verified"], json::array({true}));
    }
}

TEST_F(DeliveryReceiverTest, GoneDisablesTheTarget) {
    Receiver receiver(dir, "gone", {"--respond", "410"});
    const auto first = outbox.add_event("bat_1", "completed", "running", {"webhook.gone"});
    const auto second = outbox.add_event("bat_2", "completed", "running", {"webhook.gone"});
    auto d = dispatcher({testing::webhook_config("gone", receiver.url(), {milliseconds{100}}, 1)});
    d->start();

    ASSERT_TRUE(testing::eventually([&] { return d->disabled_targets() == std::vector<std::string>{"webhook.gone"}; }));
    EXPECT_EQ(outbox.delivery(first.deliveries[0]).state, "disabled");
    EXPECT_EQ(outbox.delivery(second.deliveries[0]).attempts, 0);
    EXPECT_EQ(receiver.requests().size(), 1u);
}

TEST_F(DeliveryReceiverTest, RetryAfterIsWaitedFor) {
    Receiver receiver(dir, "busy", {"--respond", "429;retry-after=2", "--respond", "200"});
    const auto event = outbox.add_event("bat_1", "completed", "running", {"webhook.busy"});
    auto d = dispatcher({testing::webhook_config("busy", receiver.url(), {milliseconds{100}})});
    d->start();

    ASSERT_TRUE(testing::eventually([&] { return in_state(event.deliveries[0], "delivered"); }));
    const auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 2u);
    const auto waited =
        requests[1]["received_at_ms"].get<std::int64_t>() - requests[0]["received_at_ms"].get<std::int64_t>();
    EXPECT_GE(waited, 1999) << "the schedule said 100 ms, Retry-After 2 s";
    EXPECT_EQ(outbox.attempts(event.deliveries[0]).front().error, "HTTP 429 (Retry-After: 2): answer 429");
}

TEST_F(DeliveryReceiverTest, DeadEndpointsDoNotDelayAHealthyOne) {
    Receiver hanging(dir, "hanging", {"--respond", "hang"});
    int closed_port = 0;
    {
        Receiver gone_away(dir, "gone-away", {});
        closed_port = gone_away.port();
    }
    Receiver healthy(dir, "healthy", {"--secret", kSecretA});
    auto hang_hook = testing::webhook_config("hanging", hanging.url(), {seconds{10}}, 1);
    hang_hook.timeout = seconds{30};
    const auto refused_hook =
        testing::webhook_config("refused", "http://127.0.0.1:" + std::to_string(closed_port) + "/hooks/extract",
                                {seconds{10}});
    std::vector<testing::AddedEvent> events;
    for (int i = 0; i < 3; ++i) {
        events.push_back(outbox.add_event("bat_" + std::to_string(i), "completed", "running",
                                          {"webhook.hanging", "webhook.refused", "webhook.healthy"}));
    }
    auto d = dispatcher({hang_hook, refused_hook, testing::webhook_config("healthy", healthy.url())});
    const auto started = Steady::now();
    d->start();

    ASSERT_TRUE(healthy.wait_for_requests(3, seconds{5}));
    EXPECT_LT(Steady::now() - started, extract::testing::scaled(seconds{5})) << "not held by the 30 s hang";
    EXPECT_TRUE(testing::eventually([&] {
        return std::all_of(events.begin(), events.end(),
                           [&](const auto& e) { return in_state(e.deliveries[2], "delivered"); });
    }));
    EXPECT_TRUE(testing::eventually([&] { return outbox.delivery(events[0].deliveries[1]).attempts == 1; }));
    EXPECT_EQ(outbox.delivery(events[0].deliveries[1]).last_error, "connection failed: connection refused");
    // The hanging receiver logs the request when it arrives, which a loaded machine may delay.
    ASSERT_TRUE(hanging.wait_for_requests(1, seconds{5}));
    EXPECT_EQ(hanging.requests().size(), 1u) << "still waiting for its answer";

    const auto asked = Steady::now();
    d->stop();
    EXPECT_LT(Steady::now() - asked, extract::testing::scaled(seconds{2}))
        << "the hanging request is aborted, not waited out";
    EXPECT_EQ(outbox.delivery(events[0].deliveries[0]).attempts, 0);
}

// A forked child and the write end of a pipe to it: killed -9 and reaped however the test ends.
class DoomedChild {
public:
    DoomedChild(pid_t pid, int pipe_fd) : pid_(pid), pipe_fd_(pipe_fd) {}
    ~DoomedChild() { kill(); }
    DoomedChild(const DoomedChild&) = delete;
    DoomedChild& operator=(const DoomedChild&) = delete;

    // Writes `text` and closes the pipe: the child reads until end of file.
    bool tell(const std::string& text) {
        const bool written = ::write(pipe_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
        close_pipe();
        return written;
    }
    // Returns the wait status.
    int kill() {
        close_pipe();
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status_, 0);
            pid_ = -1;
        }
        return status_;
    }

private:
    void close_pipe() {
        if (pipe_fd_ >= 0) ::close(pipe_fd_);
        pipe_fd_ = -1;
    }
    pid_t pid_;
    int pipe_fd_;
    int status_ = 0;
};

TEST_F(DeliveryReceiverTest, AKilledDispatcherLeavesItToTheNextOneWithTheSameWebhookId) {
    const auto event = outbox.add_event("bat_1", "completed", "running", {"webhook.crash"});
    // The doomed dispatcher runs in a child forked while this process has a single thread; it
    // learns the receiver's url through a pipe once the receiver (and its threads) exist.
    std::array<int, 2> url_pipe{};
    ASSERT_EQ(::pipe2(url_pipe.data(), O_CLOEXEC), 0);  // the receiver must not inherit the write end
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(url_pipe[1]);
        std::string url;
        std::array<char, 256> buffer{};
        for (ssize_t n; (n = ::read(url_pipe[0], buffer.data(), buffer.size())) > 0;) {
            url.append(buffer.data(), static_cast<std::size_t>(n));
        }
        try {
            SystemClock child_clock;
            DeliveryDispatcher crashing({outbox.path(), "", "extract-sync/test"},
                                        {{testing::webhook_config("crash", url)}, {}}, child_clock);
            crashing.start();
            std::this_thread::sleep_for(seconds{60});  // killed -9 long before, mid-request
        } catch (...) {}
        ::_exit(1);
    }
    ::close(url_pipe[0]);
    DoomedChild doomed(child, url_pipe[1]);

    Receiver receiver(dir, "crash", {"--secret", kSecretA, "--respond", "hang", "--respond", "200"});
    const auto hook = testing::webhook_config("crash", receiver.url());
    const bool sent = doomed.tell(hook.url) && receiver.wait_for_requests(1);
    const int status = doomed.kill();
    ASSERT_TRUE(sent) << "the first dispatcher never sent";
    ASSERT_TRUE(WIFSIGNALED(status));
    EXPECT_EQ(outbox.delivery(event.deliveries[0]).state, "pending");
    EXPECT_EQ(outbox.delivery(event.deliveries[0]).attempts, 0);

    auto d = dispatcher({hook});
    d->start();
    ASSERT_TRUE(testing::eventually([&] { return in_state(event.deliveries[0], "delivered"); }));
    const auto requests = receiver.requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(requests[0]["headers"]["webhook-id"], event.id);
    EXPECT_EQ(requests[1]["headers"]["webhook-id"], event.id) << "receivers dedupe on it";
    EXPECT_EQ(requests[1]["verified"], json::array({true}));
    EXPECT_EQ(outbox.attempts(event.deliveries[0]).size(), 1u);
}

// Runs the openssl command line in `dir`; throws when it fails.
void openssl(const TempDir& dir, std::vector<std::string> args) {
    const std::string program = on_path("openssl");
    if (program.empty()) throw std::runtime_error("openssl is not on PATH (Debian package openssl)");
    args.insert(args.begin(), program);
    for (auto& a : args) {
        if (a.starts_with("@")) a = (dir / a.substr(1)).string();  // @name: a file in `dir`
    }
    ChildProcess run(args);
    const auto code = run.wait(seconds{30});
    if (code != 0) throw std::runtime_error("openssl " + args[1] + " failed: " + run.stderr_text());
}

// A CA in `dir` (NAME.pem, NAME.key) and a server certificate it signs for `dns_name`
// (SERVER.pem, SERVER.key).
void make_ca(const TempDir& dir, const std::string& name) {
    openssl(dir, {"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                  "@" + name + ".key", "-out", "@" + name + ".pem", "-days", "2", "-subj", "/CN=" + name, "-addext",
                  "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
}
void make_server_cert(const TempDir& dir, const std::string& ca, const std::string& server,
                      const std::string& dns_name) {
    dir.write(server + ".ext",
              "subjectAltName=DNS:" + dns_name + "\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n");
    openssl(dir, {"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                  "@" + server + ".key", "-out", "@" + server + ".csr", "-subj", "/CN=" + dns_name});
    openssl(dir, {"x509", "-req", "-in", "@" + server + ".csr", "-CA", "@" + ca + ".pem", "-CAkey", "@" + ca + ".key",
                  "-CAcreateserial", "-out", "@" + server + ".pem", "-days", "2", "-extfile", "@" + server + ".ext"});
}

// Sets an environment variable for the test's lifetime.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const std::string& value) : name_(name) { ::setenv(name, value.c_str(), 1); }
    ~ScopedEnv() { ::unsetenv(name_); }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;

private:
    const char* name_;
};

TEST_F(DeliveryReceiverTest, HttpsTargetsVerifyTheCertificateAndItsName) {
    make_ca(dir, "trusted-ca");
    make_ca(dir, "stranger-ca");
    make_server_cert(dir, "trusted-ca", "good", "localhost");
    make_server_cert(dir, "stranger-ca", "unknown-issuer", "localhost");
    make_server_cert(dir, "trusted-ca", "wrong-name", "elsewhere.example");
    const auto tls = [&](const std::string& cert) {
        return std::vector<std::string>{"--secret",   kSecretA,
                                        "--tls-key",  (dir / (cert + ".key")).string(),
                                        "--tls-cert", (dir / (cert + ".pem")).string()};
    };
    Receiver good(dir, "good", tls("good"));
    Receiver unknown_issuer(dir, "unknown-issuer", tls("unknown-issuer"));
    Receiver wrong_name(dir, "wrong-name", tls("wrong-name"));
    // How an operator trusts a private CA for webhooks: OpenSSL's own variable (docs/webhooks.md).
    const ScopedEnv trust("SSL_CERT_FILE", (dir / "trusted-ca.pem").string());

    const auto event = outbox.add_event("bat_1", "completed", "running",
                                        {"webhook.good", "webhook.unknown-issuer", "webhook.wrong-name"});
    auto d =
        dispatcher({testing::webhook_config("good", good.url("https", "localhost"), {seconds{30}}),
                    testing::webhook_config("unknown-issuer", unknown_issuer.url("https", "localhost"), {seconds{30}}),
                    testing::webhook_config("wrong-name", wrong_name.url("https", "localhost"), {seconds{30}})});
    d->start();

    ASSERT_TRUE(testing::eventually([&] { return in_state(event.deliveries[0], "delivered"); }))
        << outbox.delivery(event.deliveries[0]).last_error.value_or("");
    EXPECT_EQ(good.requests().at(0)["verified"], json::array({true}));
    for (const std::size_t i : {1u, 2u}) {
        ASSERT_TRUE(testing::eventually([&] { return outbox.delivery(event.deliveries[i]).attempts == 1; }));
        const auto row = outbox.delivery(event.deliveries[i]);
        EXPECT_EQ(row.state, "pending");
        EXPECT_TRUE(row.last_error && row.last_error->starts_with("tls: ")) << row.last_error.value_or("NULL");
    }
    EXPECT_TRUE(unknown_issuer.requests().empty()) << "nothing was sent to a server we cannot trust";
    EXPECT_TRUE(wrong_name.requests().empty());
}

}  // namespace
}  // namespace extract::delivery
