// The mass-removal guard's decision (pure, time passed in) and its record in the mirror's meta.

#include "sync/mass_removal_guard.hpp"

#include <gtest/gtest.h>

#include "cache/meta_keys.hpp"
#include "core/timefmt.hpp"
#include "tests/support/fake_clock.hpp"
#include "tests/support/temp_dir.hpp"

using namespace extract;
using namespace extract::sync;
using namespace std::chrono_literals;

namespace {

const WallTime kStart{std::chrono::seconds{1'790'000'000}};

MassRemovalSettings settings(double threshold = 50, Millis confirm = 1h) { return {threshold, confirm}; }

TEST(MassRemoval, MoreThanTheThresholdAndMoreThanTwentyIsMass) {
    // The threshold is a strict "more than": 50 of 100 is not more than 50%, 51 is.
    EXPECT_FALSE(is_mass_removal(50, 100, 50));
    EXPECT_TRUE(is_mass_removal(51, 100, 50));
    // Never 20 or fewer, whatever the share: a small account's removals go through.
    EXPECT_FALSE(is_mass_removal(20, 20, 50));
    EXPECT_FALSE(is_mass_removal(20, 20, 0));
    EXPECT_TRUE(is_mass_removal(21, 21, 50));
    // The empty-account case: the pass listed nothing, so every live batch is unseen.
    EXPECT_TRUE(is_mass_removal(5000, 5000, 50));
    // 0% holds any removal of more than 20; 100% none.
    EXPECT_TRUE(is_mass_removal(21, 1'000'000, 0));
    EXPECT_FALSE(is_mass_removal(5000, 5000, 100));
    // A fractional threshold: 12.5% of 1000 is 125.
    EXPECT_FALSE(is_mass_removal(125, 1000, 12.5));
    EXPECT_TRUE(is_mass_removal(126, 1000, 12.5));
}

TEST(MassRemoval, OrdinaryRemovalsAreNotHeld) {
    const auto few = decide_removals(3, 10, std::nullopt, settings(), false, kStart);
    EXPECT_EQ(few.verdict, RemovalVerdict::remove);
    EXPECT_TRUE(few.removes());
    EXPECT_FALSE(few.hold);
    // Many, but a small share of a large mirror.
    const auto share = decide_removals(400, 1000, std::nullopt, settings(), false, kStart);
    EXPECT_EQ(share.verdict, RemovalVerdict::remove);
    EXPECT_EQ(decide_removals(0, 0, std::nullopt, settings(), false, kStart).verdict, RemovalVerdict::remove);
}

TEST(MassRemoval, AMassRemovalIsHeldAndAgreementOverTimeAppliesIt) {
    const auto begun = decide_removals(1000, 1000, std::nullopt, settings(50, 1h), false, kStart);
    EXPECT_EQ(begun.verdict, RemovalVerdict::hold_begun);
    EXPECT_FALSE(begun.removes());
    ASSERT_TRUE(begun.hold);
    EXPECT_EQ(*begun.hold, (HeldRemovals{1000, 1000, kStart}));

    // Passes that agree before mass_removal_confirm keep holding; the hold keeps its start and
    // takes the latest count.
    auto hold = begun.hold;
    for (const Millis later : {Millis{15min}, Millis{30min}, Millis{59min}}) {
        SCOPED_TRACE(later.count());
        const auto again = decide_removals(990, 1000, hold, settings(50, 1h), false, kStart + later);
        EXPECT_EQ(again.verdict, RemovalVerdict::held);
        ASSERT_TRUE(again.hold);
        EXPECT_EQ(again.hold->since, kStart);
        EXPECT_EQ(again.hold->count, 990);
        hold = again.hold;
    }
    // The first agreeing pass at mass_removal_confirm or later applies.
    const auto applied = decide_removals(990, 1000, hold, settings(50, 1h), false, kStart + 1h);
    EXPECT_EQ(applied.verdict, RemovalVerdict::apply_agreed);
    EXPECT_TRUE(applied.removes());
    EXPECT_FALSE(applied.hold);
}

TEST(MassRemoval, APassThatListsTheBatchesAgainClearsTheHold) {
    const HeldRemovals held{1000, 1000, kStart};
    const auto listed = decide_removals(0, 1000, held, settings(), false, kStart + 2h);
    EXPECT_EQ(listed.verdict, RemovalVerdict::hold_cleared);
    EXPECT_TRUE(listed.removes());  // what that pass did not list (here nothing) goes as usual
    EXPECT_FALSE(listed.hold);
    // Fewer than the floor missing: ordinary removals, the hold is gone.
    EXPECT_EQ(decide_removals(5, 1000, held, settings(), false, kStart + 1min).verdict, RemovalVerdict::hold_cleared);
    // The next mass removal after a clearing begins a new hold: its time starts over.
    const auto anew = decide_removals(1000, 1000, std::nullopt, settings(), false, kStart + 3h);
    EXPECT_EQ(anew.verdict, RemovalVerdict::hold_begun);
    EXPECT_EQ(anew.hold->since, kStart + 3h);
}

TEST(MassRemoval, AConfirmationAppliesAtOnceHeldOrNot) {
    const HeldRemovals held{1000, 1000, kStart};
    const auto confirmed = decide_removals(1000, 1000, held, settings(), true, kStart + 1s);
    EXPECT_EQ(confirmed.verdict, RemovalVerdict::apply_confirmed);
    EXPECT_TRUE(confirmed.removes());
    EXPECT_FALSE(confirmed.hold);
    EXPECT_EQ(decide_removals(1000, 1000, std::nullopt, settings(), true, kStart).verdict,
              RemovalVerdict::apply_confirmed);
}

TEST(MassRemoval, ARaisedThresholdAppliesAtTheNextPass) {
    // After a reload to 100%, nothing is mass: the hold clears and the removals apply.
    const HeldRemovals held{1000, 1000, kStart};
    EXPECT_EQ(decide_removals(1000, 1000, held, settings(100), false, kStart + 1min).verdict,
              RemovalVerdict::hold_cleared);
}

TEST(MassRemoval, AClockThatWentBackKeepsHolding) {
    const HeldRemovals held{1000, 1000, kStart};
    EXPECT_EQ(decide_removals(1000, 1000, held, settings(), false, kStart - 2h).verdict, RemovalVerdict::held);
}

TEST(MassRemoval, TheHoldSaysWhatAndHowToConfirm) {
    const std::string text = describe_hold({1000, 1200, kStart}, settings(50, 1h));
    EXPECT_NE(text.find("mass removal held"), std::string::npos) << text;
    EXPECT_NE(text.find("1000 of the 1200 live batches"), std::string::npos) << text;
    EXPECT_NE(text.find("mass_removal_threshold 50%"), std::string::npos) << text;
    EXPECT_NE(text.find("extractctl sync --full --confirm-removals"), std::string::npos) << text;
    EXPECT_NE(text.find(format_timestamp(kStart + 1h)), std::string::npos) << text;
}

TEST(MassRemovalMeta, RoundTripsAndRefusesWhatIsNotAHold) {
    const HeldRemovals hold{1000, 1200, kStart + 123ms};
    EXPECT_EQ(hold_from_meta(hold_to_meta(hold)), hold);
    for (const char* bad : {"", "1000", "{}", R"({"count":"x","live":1,"since":"2026-11-30T00:00:00.000Z"})",
                            R"({"count":-1,"live":1,"since":"2026-11-30T00:00:00.000Z"})",
                            R"({"count":1,"live":1,"since":"yesterday"})", R"([1,2])"}) {
        EXPECT_FALSE(hold_from_meta(bad)) << bad;
    }
}

TEST(MassRemovalMeta, KeptInTheMirrorAcrossReopening) {
    extract::testing::TempDir dir;
    extract::testing::FakeClock clock;
    const std::string path = (dir / "mirror.db").string();
    const HeldRemovals hold{50, 60, kStart};
    {
        cache::Mirror mirror(path, clock);
        EXPECT_FALSE(load_hold(mirror));
        store_hold(mirror, hold);
    }
    cache::Mirror mirror(path, clock);
    EXPECT_EQ(load_hold(mirror), hold);
    store_hold(mirror, std::nullopt);
    EXPECT_FALSE(load_hold(mirror));
    EXPECT_FALSE(mirror.meta_value(cache::meta_key::kHeldRemovals));

    // A value that is not a hold (edited by hand) is read as none, once: it is erased.
    mirror.set_meta_value(cache::meta_key::kHeldRemovals, "garbage");
    EXPECT_FALSE(load_hold(mirror));
    EXPECT_FALSE(mirror.meta_value(cache::meta_key::kHeldRemovals));
}

}  // namespace
