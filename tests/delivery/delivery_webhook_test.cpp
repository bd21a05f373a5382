#include <gtest/gtest.h>

#include "core/timefmt.hpp"
#include "delivery/webhook_channel.hpp"
#include "delivery/webhook_signature.hpp"
#include "tests/delivery/delivery_fixture_test.hpp"
#include "tests/support/fake_clock.hpp"

namespace extract::delivery {
namespace {

using std::chrono::seconds;
using testing::FakeWebhookSender;
using testing::kSecretA;
using testing::kSecretB;

const WallTime kNow{seconds{1'790'000'000}};

std::string key_of(const std::string& secret) { return webhook_secret_key(secret).value(); }

std::string header(const WebhookRequest& request, const std::string& name) {
    for (const auto& [key, value] : request.headers) {
        if (key == name) return value;
    }
    return "(missing)";
}

OutboxDelivery sample_delivery() {
    OutboxDelivery d;
    d.id = 7;
    d.event_seq = 3;
    d.target = "webhook.hooks";
    d.event_id = "evt_01JQ4Z7ZP6D1V5X8K3M2N9R0TB";
    d.event_type = "batch.status_changed";
    d.batch_id = "bat_1";
    d.payload =
        R"({"type":"batch.status_changed","timestamp":"2026-11-30T03:04:05.123Z","data":{"batch":{"id":"bat_1","status":"completed"},"previous_status":"running"}})";
    return d;
}

TEST(WebhookSecret, KeyIsTheDecodedBase64) {
    EXPECT_EQ(webhook_secret_key("whsec_ZXh0cmFjdC1zeW5jIHRlc3Qgc2lnbmluZyBrZXk="), "extract-sync test signing key");
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbG8="), "hello");
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbG8"), "hello");  // unpadded
    EXPECT_EQ(webhook_secret_key("whsec_aGk="), "hi");
    EXPECT_EQ(webhook_secret_key("whsec_/+/+"), std::string("\xff\xef\xfe", 3));
    EXPECT_EQ(webhook_secret_key("whsec_"), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_a"), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGk=="), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_a=Gk"), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGVs-G8"), std::nullopt);
    EXPECT_EQ(webhook_secret_key("aGVsbG8="), std::nullopt);
}

// The edges a lenient decoder lets through: padding in the wrong amount or place, characters outside
// the standard alphabet (the URL-safe ones, white space, bytes above ASCII, NUL).
TEST(WebhookSecret, RejectsBadPaddingAndForeignCharacters) {
    EXPECT_EQ(webhook_secret_key("whsec_aGk=="), std::nullopt);      // padded past a multiple of four
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbG8=="), std::nullopt);  // two where one belongs
    EXPECT_EQ(webhook_secret_key("whsec_aG==="), std::nullopt);      // three
    EXPECT_EQ(webhook_secret_key("whsec_aGVsb==="), std::nullopt);   // a lone sextet, padded
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbG8=aGk="), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_=aGk"), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_=="), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_===="), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbG8_"), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGVs bG8="), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGVs\nbG8="), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbG8\xc3\xa9"), std::nullopt);
    EXPECT_EQ(webhook_secret_key(std::string_view("whsec_aG\0k", 10)), std::nullopt);
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbA=="), "hell");
    EXPECT_EQ(webhook_secret_key("whsec_aGVsbA"), "hell");  // a last group of two sextets, unpadded
}

// The vector published with the Standard Webhooks reference libraries.
TEST(DeliveryWebhookSignature, MatchesTheStandardWebhooksTestVector) {
    EXPECT_EQ(webhook_signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, R"({"test": 2432232314})",
                                {key_of(kSecretA)}),
              "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(DeliveryWebhookSignature, SignsWithEverySecretSpaceSeparated) {
    const std::string both = webhook_signature("msg_1", 1614265330, "{}", {key_of(kSecretA), key_of(kSecretB)});
    const std::string a = webhook_signature("msg_1", 1614265330, "{}", {key_of(kSecretA)});
    const std::string b = webhook_signature("msg_1", 1614265330, "{}", {key_of(kSecretB)});
    EXPECT_EQ(both, a + " " + b);
    EXPECT_NE(a, b);
}

TEST(DeliveryWebhookSignature, CoversIdTimestampAndBody) {
    const std::vector<std::string> keys{key_of(kSecretA)};
    const std::string base = webhook_signature("msg_1", 100, "{}", keys);
    EXPECT_NE(base, webhook_signature("msg_2", 100, "{}", keys));
    EXPECT_NE(base, webhook_signature("msg_1", 101, "{}", keys));
    EXPECT_NE(base, webhook_signature("msg_1", 100, "{ }", keys));
}

TEST(DeliveryWebhookChannel, SendsTheStoredPayloadWithStandardWebhooksHeaders) {
    auto script = std::make_shared<FakeWebhookSender::Script>();
    extract::testing::FakeClock clock(kNow + std::chrono::milliseconds{999});
    auto config = testing::webhook_config("hooks", "https://hooks.example.com/extract");
    config.secrets = {kSecretA, kSecretB};
    config.timeout = seconds{7};
    WebhookChannel channel(config, "extract-sync/9.9.9", std::make_unique<FakeWebhookSender>(script), clock);

    const auto delivery = sample_delivery();
    const auto result = channel.deliver(delivery);
    EXPECT_EQ(result.verdict, AttemptResult::Verdict::delivered);
    ASSERT_EQ(script->requests.size(), 1u);
    const auto& sent = script->requests.front();
    EXPECT_EQ(sent.url, "https://hooks.example.com/extract");
    EXPECT_EQ(sent.timeout, seconds{7});
    EXPECT_EQ(sent.body, delivery.payload) << "the body is the stored payload, byte for byte";
    EXPECT_EQ(header(sent, "webhook-id"), delivery.event_id);
    EXPECT_EQ(header(sent, "webhook-timestamp"), "1790000000") << "Unix seconds of the attempt";
    EXPECT_EQ(header(sent, "webhook-signature"),
              webhook_signature(delivery.event_id, 1790000000, delivery.payload, {key_of(kSecretA), key_of(kSecretB)}));
    EXPECT_EQ(header(sent, "content-type"), "application/json");
    EXPECT_EQ(header(sent, "user-agent"), "extract-sync/9.9.9");
}

TEST(DeliveryWebhookChannel, EveryAttemptKeepsTheIdAndTakesItsOwnTimestamp) {
    auto script = std::make_shared<FakeWebhookSender::Script>();
    extract::testing::FakeClock clock(kNow);
    WebhookChannel channel(testing::webhook_config("hooks", "http://127.0.0.1:9/"), "extract-sync/test",
                           std::make_unique<FakeWebhookSender>(script), clock);
    const auto delivery = sample_delivery();
    script->push(FakeWebhookSender::Script::ok(500));
    EXPECT_EQ(channel.deliver(delivery).verdict, AttemptResult::Verdict::retry);
    clock.advance(seconds{5});
    EXPECT_EQ(channel.deliver(delivery).verdict, AttemptResult::Verdict::delivered);
    ASSERT_EQ(script->requests.size(), 2u);
    EXPECT_EQ(header(script->requests[0], "webhook-id"), header(script->requests[1], "webhook-id"));
    EXPECT_EQ(header(script->requests[0], "webhook-timestamp"), "1790000000");
    EXPECT_EQ(header(script->requests[1], "webhook-timestamp"), "1790000005");
}

TEST(DeliveryWebhookChannel, TransportFailuresAreRetriedAndShutdownIsNotAnOutcome) {
    auto script = std::make_shared<FakeWebhookSender::Script>();
    extract::testing::FakeClock clock(kNow);
    WebhookChannel channel(testing::webhook_config("hooks", "http://127.0.0.1:9/"), "extract-sync/test",
                           std::make_unique<FakeWebhookSender>(script), clock);
    script->push(FakeWebhookSender::Script::failure(SendFailure::connect_failed, "connection refused"));
    script->push(FakeWebhookSender::Script::failure(SendFailure::timeout, "no answer within 5000 ms"));
    script->push(FakeWebhookSender::Script::failure(SendFailure::aborted, "aborted"));

    const auto refused = channel.deliver(sample_delivery());
    EXPECT_EQ(refused.verdict, AttemptResult::Verdict::retry);
    EXPECT_FALSE(refused.status);
    EXPECT_EQ(refused.error, "connection failed: connection refused");
    const auto timeout = channel.deliver(sample_delivery());
    EXPECT_EQ(timeout.verdict, AttemptResult::Verdict::retry);
    EXPECT_EQ(timeout.error, "timeout: no answer within 5000 ms");
    EXPECT_EQ(channel.deliver(sample_delivery()).verdict, AttemptResult::Verdict::aborted);
}

TEST(DeliveryWebhookClassify, AnyTwoHundredIsDelivered) {
    for (const int status : {200, 201, 202, 204, 299}) {
        const auto r = classify_response(status, std::nullopt, "", kNow);
        EXPECT_EQ(r.verdict, AttemptResult::Verdict::delivered) << status;
        EXPECT_EQ(r.status, status);
        EXPECT_TRUE(r.error.empty());
    }
}

TEST(DeliveryWebhookClassify, GoneDisablesTheTarget) {
    const auto r = classify_response(410, std::nullopt, "endpoint\r\n  deleted\n", kNow);
    EXPECT_EQ(r.verdict, AttemptResult::Verdict::gone);
    EXPECT_EQ(r.error, "HTTP 410: endpoint deleted");
}

TEST(DeliveryWebhookClassify, TooManyRequestsAndUnavailableCarryRetryAfter) {
    const auto seconds_form = classify_response(429, "120", "", kNow);
    EXPECT_EQ(seconds_form.verdict, AttemptResult::Verdict::retry);
    EXPECT_EQ(seconds_form.not_before, kNow + seconds{120});
    EXPECT_EQ(seconds_form.error, "HTTP 429 (Retry-After: 120)");

    const auto date_form = classify_response(503, "Sun, 06 Nov 2039 08:49:37 GMT", "", kNow);
    ASSERT_TRUE(date_form.not_before);
    EXPECT_EQ(format_timestamp(*date_form.not_before), "2039-11-06T08:49:37.000Z");

    EXPECT_FALSE(classify_response(429, std::nullopt, "", kNow).not_before) << "no header: the schedule alone";
    EXPECT_FALSE(classify_response(500, "120", "", kNow).not_before) << "only 429 and 503 hold the target";
}

TEST(DeliveryWebhookClassify, EverythingElseIsRetriedWithItsBodyInTheError) {
    for (const int status : {100, 301, 400, 401, 404, 500, 502}) {
        const auto r = classify_response(status, std::nullopt, "why", kNow);
        EXPECT_EQ(r.verdict, AttemptResult::Verdict::retry) << status;
        EXPECT_EQ(r.error, "HTTP " + std::to_string(status) + ": why");
    }
    EXPECT_EQ(classify_response(500, std::nullopt, std::string(2000, 'x'), kNow).error.size(), kMaxErrorLength);
}

}  // namespace
}  // namespace extract::delivery
