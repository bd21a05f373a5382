// The dispatcher's threads with fake senders: targets do not wait for each other, stop is
// prompt and leaves unfinished work pending, reconfigure touches only what changed.
#include <gtest/gtest.h>

#include <algorithm>

#include "delivery/delivery_dispatcher.hpp"
#include "tests/delivery/delivery_fixture_test.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/temp_dir.hpp"

namespace extract::delivery {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeWebhookSender;
using Script = FakeWebhookSender::Script;
using Steady = std::chrono::steady_clock;

class DeliveryDispatcherTest : public ::testing::Test {
protected:
    // A script per webhook name; a dispatcher's senders answer from them.
    std::shared_ptr<Script> script_for(const std::string& name) {
        auto& s = scripts[name];
        if (!s) s = std::make_shared<Script>();
        return s;
    }

    std::unique_ptr<DeliveryDispatcher> dispatcher(DeliveryTargets targets) {
        DeliverySeams seams;
        seams.make_sender = [this](const WebhookTarget& hook) {
            return std::make_unique<FakeWebhookSender>(script_for(hook.name));
        };
        seams.jitter_seed = 1;
        return std::make_unique<DeliveryDispatcher>(DeliveryOptions{outbox.path(), "", "extract-sync/test"},
                                                    std::move(targets), clock, std::move(seams));
    }

    bool delivered(std::int64_t id) { return outbox.delivery(id).state == "delivered"; }

    extract::testing::TempDir dir;
    testing::Outbox outbox{dir.path()};
    SystemClock clock;
    std::map<std::string, std::shared_ptr<Script>> scripts;
};

TEST_F(DeliveryDispatcherTest, ASlowTargetNeverDelaysAnotherAndStopIsPrompt) {
    script_for("slow")->hold = true;  // every request hangs until aborted
    std::vector<testing::AddedEvent> events;
    for (int i = 0; i < 3; ++i) {
        events.push_back(
            outbox.add_event("bat_" + std::to_string(i), "completed", "running", {"webhook.slow", "webhook.fast"}));
    }
    auto d = dispatcher({{testing::webhook_config("slow", "http://slow.invalid/", {seconds{5}}, 2),
                          testing::webhook_config("fast", "http://fast.invalid/")},
                         {}});
    d->start();

    EXPECT_TRUE(testing::eventually(
        [&] {
            return std::all_of(events.begin(), events.end(), [&](const auto& e) { return delivered(e.deliveries[1]); });
        },
        seconds{5}))
        << "the fast target delivered everything while the slow one hangs";
    EXPECT_TRUE(script_for("slow")->wait_for_requests(2));
    {
        std::lock_guard lock(script_for("slow")->mutex);
        EXPECT_EQ(script_for("slow")->in_flight, 2) << "max_in_flight = 2";
        EXPECT_EQ(script_for("slow")->most_in_flight, 2);
        EXPECT_EQ(script_for("slow")->requests.size(), 2u) << "the third waits for a free slot";
    }

    const auto asked = Steady::now();
    d->stop();
    EXPECT_LT(Steady::now() - asked, extract::testing::scaled(seconds{2}));
    for (const auto& e : events) {
        const auto slow = outbox.delivery(e.deliveries[0]);
        EXPECT_EQ(slow.state, "pending") << "an aborted attempt is sent again after the restart";
        EXPECT_EQ(slow.attempts, 0);
    }
    d->stop();  // idempotent
}

TEST_F(DeliveryDispatcherTest, WakeSendsWhatWasCommittedAfterStart) {
    auto d = dispatcher({{testing::webhook_config("hooks", "http://hooks.invalid/")}, {}});
    d->start();
    const auto event = outbox.add_event("bat_1", "completed", "running", {"webhook.hooks"});
    d->wake();
    EXPECT_TRUE(testing::eventually([&] { return delivered(event.deliveries[0]); }));
    EXPECT_EQ(d->outcome_counts()["webhook.hooks"][DeliveryOutcome::delivered], 1);
}

TEST_F(DeliveryDispatcherTest, AGoneTargetIsListedAsDisabled) {
    script_for("gone")->otherwise = Script::ok(410);
    const auto first = outbox.add_event("bat_1", "completed", "running", {"webhook.gone", "webhook.ok"});
    const auto second = outbox.add_event("bat_2", "completed", "running", {"webhook.gone", "webhook.ok"});
    auto d = dispatcher({{testing::webhook_config("gone", "http://gone.invalid/", {}, 1),
                          testing::webhook_config("ok", "http://ok.invalid/")},
                         {}});
    d->start();
    EXPECT_TRUE(testing::eventually([&] { return d->disabled_targets() == std::vector<std::string>{"webhook.gone"}; }));
    EXPECT_EQ(outbox.delivery(first.deliveries[0]).state, "disabled");
    EXPECT_EQ(outbox.delivery(second.deliveries[0]).state, "pending");
    EXPECT_EQ(outbox.delivery(second.deliveries[0]).attempts, 0) << "a disabled target is sent nothing more";
    EXPECT_EQ(script_for("gone")->request_count(), 1u);
    EXPECT_TRUE(testing::eventually([&] { return delivered(second.deliveries[1]); }));
    EXPECT_EQ(d->outcome_counts()["webhook.gone"][DeliveryOutcome::disabled], 1);

    d.reset();  // destroyed without stop(): it stops itself
    auto restarted = dispatcher({{testing::webhook_config("gone", "http://gone.invalid/", {}, 1)}, {}});
    restarted->start();
    EXPECT_TRUE(
        testing::eventually([&] { return restarted->disabled_targets() == std::vector<std::string>{"webhook.gone"}; }));
}

TEST_F(DeliveryDispatcherTest, ReconfigureRestartsOnlyWhatChanged) {
    script_for("kept")->hold = true;
    const auto event = outbox.add_event("bat_1", "completed", "running", {"webhook.kept", "webhook.added"});
    const auto kept = testing::webhook_config("kept", "http://kept.invalid/");
    auto d = dispatcher({{kept}, {}});
    d->start();
    ASSERT_TRUE(script_for("kept")->wait_for_requests(1));

    d->reconfigure({{kept, testing::webhook_config("added", "http://added.invalid/")}, {}});
    EXPECT_TRUE(testing::eventually([&] { return delivered(event.deliveries[1]); })) << "a new target starts sending";
    {
        std::lock_guard lock(script_for("kept")->mutex);
        EXPECT_FALSE(script_for("kept")->aborted) << "an unchanged target keeps its attempt in flight";
    }

    const auto before = script_for("kept");
    scripts.erase("kept");  // the restarted target answers from a fresh script: 200
    auto changed = kept;
    changed.timeout = seconds{1};
    d->reconfigure({{changed}, {}});
    {
        std::lock_guard lock(before->mutex);
        EXPECT_TRUE(before->aborted) << "a changed target was restarted";
    }
    EXPECT_TRUE(testing::eventually([&] { return delivered(event.deliveries[0]); }))
        << "the aborted attempt is made again by the new worker";
    EXPECT_EQ(outbox.delivery(event.deliveries[0]).attempts, 1);
}

TEST_F(DeliveryDispatcherTest, ADispatcherGoneMidSendLeavesTheDeliveryToTheNextWithTheSameId) {
    script_for("hooks")->hold = true;
    const auto event = outbox.add_event("bat_1", "completed", "running", {"webhook.hooks"});
    auto d = dispatcher({{testing::webhook_config("hooks", "http://hooks.invalid/")}, {}});
    d->start();
    ASSERT_TRUE(script_for("hooks")->wait_for_requests(1));
    d.reset();

    const auto first_try = script_for("hooks");
    scripts.erase("hooks");
    auto next = dispatcher({{testing::webhook_config("hooks", "http://hooks.invalid/")}, {}});
    next->start();
    EXPECT_TRUE(testing::eventually([&] { return delivered(event.deliveries[0]); }));
    const auto second_try = script_for("hooks");
    ASSERT_EQ(second_try->request_count(), 1u);
    const auto id = [](const WebhookRequest& r) {
        return std::find_if(r.headers.begin(), r.headers.end(), [](const auto& h) { return h.first == "webhook-id"; })
            ->second;
    };
    EXPECT_EQ(id(first_try->requests[0]), event.id);
    EXPECT_EQ(id(second_try->requests[0]), event.id);
    EXPECT_EQ(outbox.delivery(event.deliveries[0]).attempts, 1) << "the interrupted attempt was never recorded";
}

TEST_F(DeliveryDispatcherTest, NoSecretReachesTheLog) {
    auto& script = *script_for("hooks");
    script.push(Script::ok(500));
    script.push(Script::ok(410));
    const auto first = outbox.add_event("bat_1", "completed", "running", {"webhook.hooks"});
    auto hook = testing::webhook_config("hooks", "http://hooks.invalid/", {milliseconds{10}});
    hook.secrets = {testing::kSecretA, testing::kSecretB};
    testing::LogCapture log;
    auto d = dispatcher({{hook}, {}});
    d->start();
    ASSERT_TRUE(testing::eventually([&] { return outbox.delivery(first.deliveries[0]).state == "disabled"; }));
    d->stop();

    EXPECT_TRUE(log.contains("answered 410 Gone")) << "the capture works";
    for (const auto& secret : {testing::kSecretA, testing::kSecretB}) {
        EXPECT_FALSE(log.contains(secret.substr(6, 12))) << "a secret (or its key, base64) was logged";
    }
    EXPECT_FALSE(log.contains("v1,")) << "nor a signature";
}

}  // namespace
}  // namespace extract::delivery
