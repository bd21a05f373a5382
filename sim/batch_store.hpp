#pragma once
// Every simulated batch in memory: the listing order and an ordered index per status (so
// any page, filtered or not, costs O(log n + limit)), lifecycles advanced lazily from the
// clock, and each batch's JSON text kept ready to serve. Thread-safe: reads share a lock,
// changes take it alone.

#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.hpp"
#include "sim/batch_lifecycle.hpp"
#include "sim/batch_record.hpp"
#include "sim/lifecycle_clock.hpp"
#include "sim/listing_index.hpp"
#include "sim/listing_position.hpp"
#include "sim/slots_by_id.hpp"

namespace extract::sim {

enum class ListingOrder { newest, oldest, shuffled };
std::optional<ListingOrder> parse_listing_order(std::string_view text);

inline constexpr Micros kDefaultRetention = 3LL * 24 * 3600 * 1'000'000;

struct StoreSettings {
    ListingOrder order = ListingOrder::newest;  // newest: created_at descending
    std::uint64_t seed = 1;
    Micros retention = kDefaultRetention;  // expires_at = created_at + retention
    double speed = 1.0;                    // lifecycle time per wall time
    bool frozen = false;                   // no batch changes by itself
};

struct ListQuery {
    std::string status;  // empty: every status
    std::optional<ListingPosition> after;
    int limit = 50;
};

struct NewBatches {
    int count = 1;
    std::optional<std::string> status = std::nullopt;  // given: the batches stay in it (no lifecycle)
    std::optional<std::int32_t> total_items = std::nullopt;
};

struct UpdateResult {
    enum class Outcome { updated, not_found, invalid };
    Outcome outcome = Outcome::updated;
    std::string message;  // what is wrong, for `invalid`
};

// One batch as served now, and what its fake items are made from.
struct BatchView {
    std::string json;
    ItemCounts counts;
    Micros updated_at = 0;  // the wall time of its last lifecycle step
};

class BatchStore {
public:
    BatchStore(const Clock& clock, StoreSettings settings);

    // Adds `count` batches created over the past two days (less when retention is shorter),
    // mostly terminal, a few pending or running.
    void generate(std::size_t count);

    // `{"object":"list","data":[…],"next_cursor":…}` for the batches after `query.after`.
    std::string list_page(const ListQuery& query);
    std::optional<BatchView> find(std::string_view id);
    // `{"batches":[…]}`: every live batch as served now, in listing order.
    std::string snapshot();
    std::size_t size();

    // Creates batches with created_at now (strictly increasing) and returns their ids.
    std::vector<std::string> create(const NewBatches& request);
    // Sets fields of a batch (see README: status, counts, total_items, timestamps, anything
    // else verbatim) and stops its lifecycle.
    UpdateResult update(std::string_view id, const nlohmann::json& fields);
    bool remove(std::string_view id);

    void freeze();
    void unfreeze();
    bool frozen();

private:
    struct Scheduled {
        Micros at;
        std::uint32_t slot;
        std::uint32_t generation;
        bool operator>(const Scheduled& o) const { return at > o.at; }
    };
    using Schedule = std::vector<Scheduled>;  // a min-heap on `at`; stale entries are skipped when popped

    Micros wall_now() const;
    // Applies whatever became due by `wall`, taking the exclusive lock only when something did.
    void catch_up(Micros wall);
    bool due_locked(Micros wall) const;
    void advance_locked(Micros wall);

    std::uint32_t allocate_slot_locked();
    std::string random_id_locked();
    std::uint64_t order_key(const BatchRecord& batch) const;
    ListingPosition position_of(std::uint32_t slot) const;
    void index_locked(std::uint32_t slot);
    void unindex_locked(std::uint32_t slot);
    void schedule_change_locked(std::uint32_t slot);
    void schedule_expiry_locked(std::uint32_t slot);
    void erase_locked(std::uint32_t slot);
    void rebuild_json_locked(BatchRecord& batch);
    std::optional<StatusId> status_id(std::string_view name) const;
    StatusId intern_status_locked(std::string_view name);
    UpdateResult update_locked(std::uint32_t slot, const nlohmann::json& fields, Micros wall);
    const ListingIndex* index_for(std::string_view status) const;

    const Clock& clock_;
    const StoreSettings settings_;
    mutable std::shared_mutex mutex_;
    LifecycleClock lifecycle_clock_;
    Rng rng_;
    Micros last_created_at_ = 0;

    std::deque<BatchRecord> records_;  // a deque: references (and the id views below) stay valid as it grows
    std::vector<std::uint32_t> free_slots_;
    SlotsById slots_by_id_{records_};
    ListingIndex listing_;
    std::vector<ListingIndex> by_status_;
    std::vector<std::string> status_names_;
    Schedule lifecycle_schedule_;  // keyed on lifecycle time
    Schedule expiry_schedule_;     // keyed on wall time
};

}  // namespace extract::sim
