// The configuration's webhooks and triggers as delivery/'s targets: every setting delivery uses
// (and every one a reload compares) carried over, in file order.

#include <gtest/gtest.h>

#include "daemon/delivery_targets.hpp"

namespace extract::daemon {
namespace {

using std::chrono::seconds;

TEST(DeliveryTargets, CarryEveryDeliverySettingInFileOrder) {
    Config config;
    WebhookConfig hook;
    hook.name = "ops";
    hook.url = "https://hooks.example/x";
    hook.secret_file = "/etc/extract-sync/ops.whsec";
    hook.secret_source = "secret_file /etc/extract-sync/ops.whsec";
    hook.secrets = {"whsec_aGVsbG8=", "whsec_aGk="};
    hook.events = {"batch.created"};
    hook.statuses = {"completed"};
    hook.timeout = seconds{7};
    hook.retry_schedule = {seconds{1}, seconds{2}};
    hook.max_in_flight = 3;
    WebhookConfig second;
    second.name = "second";
    config.webhooks = {hook, second};
    TriggerConfig trigger;
    trigger.name = "notify";
    trigger.command = "/usr/bin/notify 'a b'";
    trigger.argv = {"/usr/bin/notify", "a b"};
    trigger.events = {"batch.status_changed"};
    trigger.statuses = {"failed"};
    trigger.timeout = seconds{9};
    trigger.retry_schedule = {seconds{3}};
    config.triggers = {trigger};

    const auto targets = delivery_targets(config);

    ASSERT_EQ(targets.webhooks.size(), 2u);
    const auto& w = targets.webhooks[0];
    EXPECT_EQ(w.name, "ops");
    EXPECT_EQ(w.url, "https://hooks.example/x");
    EXPECT_EQ(w.secrets, hook.secrets);
    EXPECT_EQ(w.events, hook.events);
    EXPECT_EQ(w.statuses, hook.statuses);
    EXPECT_EQ(w.timeout, seconds{7});
    EXPECT_EQ(w.retry_schedule, hook.retry_schedule);
    EXPECT_EQ(w.max_in_flight, 3);
    EXPECT_EQ(targets.webhooks[1].name, "second");
    EXPECT_EQ(targets.webhooks[1].retry_schedule, WebhookConfig{}.retry_schedule) << "the configuration's defaults";

    ASSERT_EQ(targets.triggers.size(), 1u);
    const auto& t = targets.triggers[0];
    EXPECT_EQ(t.name, "notify");
    EXPECT_EQ(t.command, trigger.command);
    EXPECT_EQ(t.argv, trigger.argv);
    EXPECT_EQ(t.events, trigger.events);
    EXPECT_EQ(t.statuses, trigger.statuses);
    EXPECT_EQ(t.timeout, seconds{9});
    EXPECT_EQ(t.retry_schedule, trigger.retry_schedule);
}

}  // namespace
}  // namespace extract::daemon
