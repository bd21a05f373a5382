// The systemd watchdog's view of the sync loop (SyncLiveness and its decorators) and the
// STATUS= line, driven by a FakeClock.

#include <gtest/gtest.h>

#include <functional>

#include "daemon/service_notifier.hpp"
#include "daemon/sync_liveness.hpp"
#include "tests/support/fake_clock.hpp"

using namespace extract;
using namespace extract::daemon;
using extract::testing::FakeClock;
using namespace std::chrono_literals;

namespace {

constexpr Millis kLimit{60000};

TEST(SyncLiveness, WaitingIsAliveHoweverLongItLasts) {
    FakeClock clock;
    SyncLiveness liveness(clock);
    clock.advance(std::chrono::hours(5));
    EXPECT_TRUE(liveness.alive(kLimit));
    liveness.working();
    liveness.waiting();
    clock.advance(std::chrono::hours(5));
    EXPECT_TRUE(liveness.alive(kLimit));
    EXPECT_EQ(liveness.silent_for(), Millis{0});
}

TEST(SyncLiveness, WorkingIsAliveOnlyWhileSignsOfLifeKeepComing) {
    FakeClock clock;
    SyncLiveness liveness(clock);
    liveness.working();
    clock.advance(kLimit);
    EXPECT_TRUE(liveness.alive(kLimit));
    liveness.working();  // a page arrived
    clock.advance(kLimit - Millis{1});
    EXPECT_TRUE(liveness.alive(kLimit));
    clock.advance(Millis{2});
    EXPECT_FALSE(liveness.alive(kLimit));
    EXPECT_EQ(liveness.silent_for(), kLimit + Millis{1});
}

// Takes `takes` of fake time per request; `during` sees the world just before the answer.
struct SlowTransport final : upstream::HttpTransport {
    FakeClock& clock;
    Millis takes;
    std::function<void()> during = [] {};
    SlowTransport(FakeClock& c, Millis t) : clock(c), takes(t) {}
    upstream::TransportResult get(const std::string&, const upstream::HeaderList&) override {
        clock.advance(takes);
        during();
        return {};
    }
    void abort() override {}
};

TEST(LivenessTransport, EachAnswerIsASignOfLifeAndARequestInFlightAges) {
    FakeClock clock;
    SyncLiveness liveness(clock);
    SlowTransport slow(clock, Millis{50000});
    LivenessTransport transport(slow, liveness);
    for (int page = 0; page < 10; ++page) {
        transport.get("/v1/batches", {});  // 500 s in all, each request well within the limit
        EXPECT_TRUE(liveness.alive(kLimit));
    }
    slow.takes = Millis{90000};
    bool alive_mid_request = true;
    slow.during = [&] { alive_mid_request = liveness.alive(kLimit); };  // what the watchdog thread sees
    transport.get("/v1/batches", {});
    EXPECT_FALSE(alive_mid_request);
    EXPECT_TRUE(liveness.alive(kLimit));  // the answer came: alive again
}

TEST(LivenessSleeper, ADeliberateWaitIsAlive) {
    FakeClock clock;
    SyncLiveness liveness(clock);
    liveness.working();
    struct Probe final : Sleeper {
        FakeClock& clock;
        SyncLiveness& liveness;
        bool alive_at_end = false;
        Probe(FakeClock& c, SyncLiveness& l) : clock(c), liveness(l) {}
        bool sleep_for(Millis d) override {
            clock.advance(d);
            alive_at_end = liveness.alive(kLimit);
            return true;
        }
    } inner(clock, liveness);
    LivenessSleeper sleeper(inner, liveness);
    EXPECT_TRUE(sleeper.sleep_for(std::chrono::minutes(10)));  // Retry-After: 600
    EXPECT_TRUE(inner.alive_at_end);
    clock.advance(kLimit + Millis{1});
    EXPECT_FALSE(liveness.alive(kLimit)) << "after the sleep the loop works again and must show signs of life";
}

TEST(ServiceStatusText, SaysHowManyBatchesAndHowLongAgoTheLastSyncWas) {
    const SteadyTime now{std::chrono::hours(100)};
    EXPECT_EQ(service_status_text({}, now), "starting: first sync");
    EXPECT_EQ(service_status_text({12, std::nullopt, ""}, now), "12 batches, not synced yet");
    EXPECT_EQ(service_status_text({12345, now - 4s, ""}, now), "12345 batches, last sync 4s ago");
    EXPECT_EQ(service_status_text({12345, now - 119s, ""}, now), "12345 batches, last sync 119s ago");
    EXPECT_EQ(service_status_text({12345, now - 150s, ""}, now), "12345 batches, last sync 2m ago");
    EXPECT_EQ(service_status_text({12345, now - std::chrono::hours(5) - 3s, ""}, now),
              "12345 batches, last sync 5h ago");
    EXPECT_EQ(service_status_text({7, now - std::chrono::hours(72), "paused: unauthorized"}, now),
              "7 batches, last sync 3d ago; paused: unauthorized");
}

}  // namespace
