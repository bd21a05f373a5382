// ListingIndex and SlotsById against std::set / std::map under random inserts and erases.

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "sim/listing_index.hpp"
#include "sim/slots_by_id.hpp"

namespace extract::sim {
namespace {

std::vector<ListingPosition> contents(const ListingIndex& index) {
    std::vector<ListingPosition> out;
    for (const auto& p : index) out.push_back(p);
    return out;
}

TEST(SimListingIndex, MatchesAnOrderedSetUnderRandomChanges) {
    std::mt19937_64 rng(1);
    ListingIndex index;
    std::set<ListingPosition> reference;
    EXPECT_EQ(index.begin(), index.end());
    for (int round = 0; round < 30000; ++round) {
        // Few distinct keys, so ties broken by slot are common; skewed to one end like "newest".
        const ListingPosition p{rng() % 50 + (round % 3 == 0 ? 0 : 1000), static_cast<std::uint32_t>(rng() % 4000)};
        if (rng() % 3 == 0 && !reference.empty()) {
            const auto victim = *std::next(reference.begin(), static_cast<long>(rng() % reference.size()));
            index.erase(victim);
            reference.erase(victim);
        } else if (!reference.contains(p)) {
            index.insert(p);
            reference.insert(p);
        }
        if (round % 1000 == 0) {
            ASSERT_EQ(contents(index), std::vector<ListingPosition>(reference.begin(), reference.end()));
            const auto probe = ListingPosition{rng() % 1100, static_cast<std::uint32_t>(rng() % 4000)};
            const auto expected = reference.upper_bound(probe);
            const auto got = index.upper_bound(probe);
            if (expected == reference.end()) {
                EXPECT_EQ(got, index.end());
            } else {
                ASSERT_NE(got, index.end());
                EXPECT_EQ(*got, *expected);
            }
        }
    }
    EXPECT_EQ(index.size(), reference.size());
    index.erase({999999, 0});  // absent: nothing happens
    EXPECT_EQ(index.size(), reference.size());
}

TEST(SimSlotsById, FindsInsertsAndErasesLikeAMap) {
    std::mt19937_64 rng(2);
    std::deque<BatchRecord> records(5000);
    for (std::size_t i = 0; i < records.size(); ++i) {
        const std::string id = "bat_" + std::string(20 - std::to_string(i).size(), 'x') + std::to_string(i);
        std::copy(id.begin(), id.end(), records[i].id.begin());
    }
    SlotsById slots(records);
    std::map<std::string, std::uint32_t> reference;
    for (int round = 0; round < 40000; ++round) {
        const auto slot = static_cast<std::uint32_t>(rng() % records.size());
        const std::string id(records[slot].id_view());
        if (reference.contains(id)) {
            slots.erase(slot);
            reference.erase(id);
        } else {
            slots.insert(slot);
            reference[id] = slot;
        }
        if (round % 997 == 0) {
            for (std::uint32_t s = 0; s < records.size(); ++s) {
                const std::string probe(records[s].id_view());
                const auto found = slots.find(probe);
                ASSERT_EQ(found.has_value(), reference.contains(probe)) << probe;
                if (found) {
                    EXPECT_EQ(*found, s);
                }
            }
        }
    }
    EXPECT_EQ(slots.size(), reference.size());
    EXPECT_FALSE(slots.find("bat_not_there_at_all_"));
}

}  // namespace
}  // namespace extract::sim
