// DeliveryQueue with the injected clock, the real mirror schema and a fake HTTP sender or
// process runner: no thread, no sleep, every decision observed.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/timefmt.hpp"
#include "delivery/delivery_queue.hpp"
#include "delivery/trigger_channel.hpp"
#include "delivery/webhook_channel.hpp"
#include "tests/delivery/delivery_fixture_test.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::delivery {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeProcessRunner;
using testing::FakeWebhookSender;
using Script = FakeWebhookSender::Script;

WallTime parsed(const std::optional<std::string>& text) {
    const auto t = text ? parse_timestamp(*text) : std::nullopt;
    if (!t) throw std::runtime_error("not a timestamp: " + text.value_or("NULL"));
    return *t;
}

class DeliveryQueueTest : public ::testing::Test {
protected:
    QueueSettings webhook_settings(int max_in_flight, std::vector<Millis> schedule) {
        return {"webhook.hooks", "https://hooks.example.com/a", max_in_flight, false, std::move(schedule)};
    }

    std::unique_ptr<DeliveryQueue> queue(QueueSettings settings) {
        auto q = std::make_unique<DeliveryQueue>(std::move(settings), outbox.path(), clock, counts, 7);
        q->refresh();
        return q;
    }

    std::unique_ptr<WebhookChannel> channel() {
        return std::make_unique<WebhookChannel>(testing::webhook_config("hooks", "https://hooks.example.com/a"),
                                                "extract-sync/test", std::make_unique<FakeWebhookSender>(script),
                                                clock);
    }

    // Starts what is due now and completes each attempt at once; returns the deliveries started.
    std::vector<std::int64_t> pump(DeliveryQueue& q, DeliveryChannel& ch) {
        std::vector<std::int64_t> started;
        for (const auto& d : q.take_due(clock.now())) {
            started.push_back(d.id);
            q.finish(d, ch.deliver(d), clock.now(), milliseconds{3});
        }
        return started;
    }

    std::int64_t add(const std::string& target = "webhook.hooks") {
        return outbox.add_event("bat_" + std::to_string(++batches), "completed", "running", {target})
            .deliveries.front();
    }

    extract::testing::TempDir dir;
    testing::Outbox outbox{dir.path()};
    extract::testing::FakeClock clock;
    DeliveryOutcomeCounts counts;
    std::shared_ptr<Script> script = std::make_shared<Script>();
    int batches = 0;
};

TEST_F(DeliveryQueueTest, DeliveriesLeaveInEventOrderAtMostMaxInFlightAtOnce) {
    std::vector<std::int64_t> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(add());
    const auto other_target = add("webhook.other");
    auto q = queue(webhook_settings(2, {}));

    auto first = q->take_due(clock.now());
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].id, ids[0]);
    EXPECT_EQ(first[1].id, ids[1]);
    EXPECT_EQ(q->in_flight(), 2);
    EXPECT_TRUE(q->take_due(clock.now()).empty()) << "the window is full";
    EXPECT_FALSE(q->next_due(clock.now())) << "only a finished attempt opens the window";

    q->finish(first[0], {AttemptResult::Verdict::delivered, 200, "", {}}, clock.now(), milliseconds{1});
    auto second = q->take_due(clock.now());
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(second[0].id, ids[2]);

    q->finish(first[1], {AttemptResult::Verdict::delivered, 200, "", {}}, clock.now(), milliseconds{1});
    q->finish(second[0], {AttemptResult::Verdict::delivered, 200, "", {}}, clock.now(), milliseconds{1});
    auto third = q->take_due(clock.now());
    ASSERT_EQ(third.size(), 2u);
    EXPECT_EQ(third[0].id, ids[3]);
    EXPECT_EQ(third[1].id, ids[4]);
    for (const auto& d : third) EXPECT_NE(d.id, other_target) << "a queue only ever takes its own target's deliveries";
}

TEST_F(DeliveryQueueTest, DeliveredIsRecordedWithItsAttempt) {
    const auto id = add();
    auto q = queue(webhook_settings(4, {seconds{5}}));
    auto ch = channel();
    script->push(Script::ok(204));
    EXPECT_EQ(pump(*q, *ch), std::vector<std::int64_t>{id});

    const auto row = outbox.delivery(id);
    EXPECT_EQ(row.state, "delivered");
    EXPECT_EQ(row.attempts, 1);
    EXPECT_EQ(row.last_status, 204);
    EXPECT_FALSE(row.last_error);
    EXPECT_FALSE(row.next_attempt_at);
    EXPECT_EQ(row.delivered_at, format_timestamp(clock.now() + milliseconds{3}));
    const auto attempts = outbox.attempts(id);
    ASSERT_EQ(attempts.size(), 1u);
    EXPECT_EQ(attempts[0].attempt, 1);
    EXPECT_EQ(attempts[0].started_at, format_timestamp(clock.now()));
    EXPECT_EQ(attempts[0].duration_ms, 3);
    EXPECT_EQ(attempts[0].status, 204);
    EXPECT_EQ(counts.snapshot()["webhook.hooks"][DeliveryOutcome::delivered], 1);
    EXPECT_TRUE(pump(*q, *ch).empty()) << "delivered is never sent again by itself";
}

TEST_F(DeliveryQueueTest, RetriedOnTheScheduleWithJitterThenFailedAfterTheLastAttempt) {
    const auto id = add();
    const std::vector<Millis> schedule{seconds{10}, seconds{60}};
    auto q = queue(webhook_settings(4, schedule));
    auto ch = channel();
    script->otherwise = Script::ok(500);

    for (int attempt = 1; attempt <= 2; ++attempt) {
        const WallTime tried_at = clock.now();
        ASSERT_EQ(pump(*q, *ch).size(), 1u) << "attempt " << attempt;
        const auto row = outbox.delivery(id);
        EXPECT_EQ(row.state, "pending");
        EXPECT_EQ(row.attempts, attempt);
        EXPECT_EQ(row.last_status, 500);
        EXPECT_EQ(row.last_error, "HTTP 500");
        const auto next = parsed(row.next_attempt_at);
        const auto planned = schedule[static_cast<std::size_t>(attempt - 1)];
        EXPECT_GE(next, tried_at + planned * 9 / 10);
        EXPECT_LE(next, tried_at + planned * 11 / 10);
        EXPECT_EQ(q->next_due(clock.now()), next);

        clock.advance(std::chrono::duration_cast<Millis>(next - clock.now()) - milliseconds{1});
        EXPECT_TRUE(pump(*q, *ch).empty()) << "no attempt before its time";
        clock.advance(milliseconds{1});
    }
    ASSERT_EQ(pump(*q, *ch).size(), 1u) << "attempt 3 of 3";
    const auto row = outbox.delivery(id);
    EXPECT_EQ(row.state, "failed");
    EXPECT_EQ(row.attempts, 3);
    EXPECT_FALSE(row.next_attempt_at);
    EXPECT_EQ(outbox.attempts(id).size(), 3u);
    EXPECT_FALSE(q->next_due(clock.now()));
    clock.advance(std::chrono::hours{24});
    EXPECT_TRUE(pump(*q, *ch).empty()) << "failed stays failed";
    auto snapshot = counts.snapshot()["webhook.hooks"];
    EXPECT_EQ(snapshot[DeliveryOutcome::retried], 2);
    EXPECT_EQ(snapshot[DeliveryOutcome::failed], 1);
    EXPECT_EQ(script->request_count(), 3u);
}

TEST_F(DeliveryQueueTest, AFailedDeliveryRequeuedByTheApiGetsOneMoreAttempt) {
    const auto id = add();
    auto q = queue(webhook_settings(4, {}));
    auto ch = channel();
    script->push(Script::ok(500));
    pump(*q, *ch);
    ASSERT_EQ(outbox.delivery(id).state, "failed");

    outbox.requeue(id);
    q->refresh();
    script->push(Script::ok(200));
    EXPECT_EQ(pump(*q, *ch), std::vector<std::int64_t>{id});
    EXPECT_EQ(outbox.delivery(id).state, "delivered");
    EXPECT_EQ(outbox.delivery(id).attempts, 2);
}

TEST_F(DeliveryQueueTest, RetryAfterHoldsTheWholeTargetUntilItPasses) {
    const auto first = add();
    const auto second = add();
    auto q = queue(webhook_settings(1, {seconds{5}, seconds{5}}));
    auto ch = channel();
    script->push(Script::ok(429, "120"));
    const WallTime answered = clock.now();
    ASSERT_EQ(pump(*q, *ch), std::vector<std::int64_t>{first});

    EXPECT_GE(parsed(outbox.delivery(first).next_attempt_at), answered + seconds{120});
    EXPECT_EQ(q->next_due(clock.now()), answered + seconds{120});
    clock.advance(seconds{119});
    EXPECT_TRUE(pump(*q, *ch).empty()) << "neither the delivery nor the target's next one go before Retry-After";
    EXPECT_EQ(outbox.delivery(second).attempts, 0);
    clock.advance(seconds{1});
    EXPECT_EQ(pump(*q, *ch), std::vector<std::int64_t>{first});
    EXPECT_EQ(pump(*q, *ch), std::vector<std::int64_t>{second});
    EXPECT_EQ(outbox.delivery(first).state, "delivered");
    EXPECT_EQ(outbox.delivery(second).state, "delivered");
}

TEST_F(DeliveryQueueTest, GoneDisablesTheTargetAcrossRestartsUntilThatDeliveryIsRetried) {
    const auto first = add();
    const auto second = add();
    auto q = queue(webhook_settings(1, {seconds{5}}));
    auto ch = channel();
    script->push(Script::ok(410));
    ASSERT_EQ(pump(*q, *ch), std::vector<std::int64_t>{first});

    EXPECT_TRUE(q->disabled());
    EXPECT_EQ(outbox.delivery(first).state, "disabled");
    EXPECT_EQ(outbox.delivery(first).last_status, 410);
    EXPECT_EQ(outbox.delivery(second).state, "pending") << "the others wait, they are not thrown away";
    EXPECT_TRUE(pump(*q, *ch).empty()) << "nothing more goes to a disabled target";
    EXPECT_FALSE(q->next_due(clock.now()));
    const auto mark = nlohmann::json::parse(outbox.meta("disabled.webhook.hooks").value());
    EXPECT_EQ(mark["delivery_id"], first);
    EXPECT_EQ(mark["url"], "https://hooks.example.com/a");
    EXPECT_EQ(counts.snapshot()["webhook.hooks"][DeliveryOutcome::disabled], 1);

    q.reset();
    auto restarted = queue(webhook_settings(1, {seconds{5}}));
    EXPECT_TRUE(restarted->disabled()) << "a restart keeps it disabled";
    EXPECT_TRUE(pump(*restarted, *ch).empty());

    outbox.requeue(first);  // extractctl redeliver FIRST
    restarted->refresh();
    EXPECT_FALSE(restarted->disabled());
    EXPECT_FALSE(outbox.meta("disabled.webhook.hooks"));
    EXPECT_EQ(pump(*restarted, *ch), std::vector<std::int64_t>{first});
    EXPECT_EQ(pump(*restarted, *ch), std::vector<std::int64_t>{second});
    EXPECT_EQ(script->request_count(), 3u);
}

TEST_F(DeliveryQueueTest, ANewUrlEnablesADisabledTarget) {
    const auto first = add();
    auto q = queue(webhook_settings(1, {}));
    auto ch = channel();
    script->push(Script::ok(410));
    pump(*q, *ch);
    ASSERT_TRUE(q->disabled());
    const auto second = add();

    auto moved = webhook_settings(1, {});
    moved.url = "https://hooks.example.com/b";
    auto reconfigured = queue(moved);
    EXPECT_FALSE(reconfigured->disabled());
    EXPECT_EQ(pump(*reconfigured, *ch), std::vector<std::int64_t>{second});
    EXPECT_EQ(outbox.delivery(first).state, "disabled") << "the 410'd delivery stays as it was";
}

TEST_F(DeliveryQueueTest, AnAbortedAttemptIsNotRecordedAndGoesAgain) {
    const auto id = add();
    auto q = queue(webhook_settings(1, {seconds{5}}));
    const auto taken = q->take_due(clock.now());
    ASSERT_EQ(taken.size(), 1u);
    q->finish(taken[0], {AttemptResult::Verdict::aborted, std::nullopt, "aborted", {}}, clock.now(), milliseconds{1});
    EXPECT_EQ(outbox.delivery(id).attempts, 0);
    EXPECT_TRUE(outbox.attempts(id).empty());
    EXPECT_EQ(q->take_due(clock.now()).size(), 1u);
}

TEST_F(DeliveryQueueTest, ATriggerRunsStrictlyInEventOrderOneAtATime) {
    const auto first = add("trigger.notify");
    const auto second = add("trigger.notify");
    auto runner_script = std::make_shared<FakeProcessRunner::Script>();
    ProcessOutcome failing;
    failing.code = 3;
    failing.last_line = "database locked";
    runner_script->outcomes.push_back(failing);
    TriggerChannel ch(testing::trigger_config("notify", {"/bin/true"}), "/run/extract-sync/api.sock",
                      std::make_unique<FakeProcessRunner>(runner_script));
    auto q = queue({"trigger.notify", "", 1, true, {seconds{10}}});

    const auto taken = q->take_due(clock.now());
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_EQ(taken[0].id, first);
    EXPECT_TRUE(q->take_due(clock.now()).empty()) << "one instance at a time";
    q->finish(taken[0], ch.deliver(taken[0]), clock.now(), milliseconds{20});

    const auto row = outbox.delivery(first);
    EXPECT_EQ(row.state, "pending");
    EXPECT_EQ(row.last_status, 3);
    EXPECT_EQ(row.last_error, "exit code 3: database locked");
    EXPECT_TRUE(pump(*q, ch).empty()) << "the next event waits behind the one being retried";
    EXPECT_EQ(q->next_due(clock.now()), parsed(row.next_attempt_at));

    clock.advance(seconds{11});
    EXPECT_EQ(pump(*q, ch), std::vector<std::int64_t>{first});
    EXPECT_EQ(pump(*q, ch), std::vector<std::int64_t>{second});
    ASSERT_EQ(runner_script->requests.size(), 3u);
    EXPECT_EQ(outbox.delivery(second).state, "delivered");
}

}  // namespace
}  // namespace extract::delivery
