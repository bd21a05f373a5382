#include "sim/batch_store.hpp"

#include <algorithm>
#include <mutex>

#include "core/timefmt.hpp"
#include "sim/batch_json.hpp"

namespace extract::sim {
namespace {

constexpr Micros kGeneratedSpan = 2LL * 24 * 3600 * 1'000'000;  // generated batches were created over the past two days
constexpr std::size_t kMaxStatuses = 256;                       // StatusId is one byte
constexpr std::string_view kIdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::uint64_t mix64(std::uint64_t x) {  // splitmix64's finaliser
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

std::uint64_t hash_id(std::uint64_t seed, std::string_view id) {
    std::uint64_t h = 0xCBF29CE484222325ULL;  // FNV-1a, then mixed with the seed
    for (const char c : id) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001B3ULL;
    return mix64(h ^ mix64(seed));
}

// Signed micros to unsigned keys that sort the same way.
std::uint64_t ascending(Micros t) { return static_cast<std::uint64_t>(t) ^ (std::uint64_t{1} << 63); }

Micros to_micros(WallTime t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

UpdateResult invalid(std::string message) { return {UpdateResult::Outcome::invalid, std::move(message)}; }

// A timestamp field of a control update: a string parse_timestamp accepts, or null where allowed.
std::optional<Micros> read_timestamp(const nlohmann::json& value, bool nullable, std::string& error,
                                     std::string_view field) {
    if (value.is_null() && nullable) return kNull;
    if (value.is_string()) {
        if (const auto t = parse_timestamp(value.get<std::string>())) return to_micros(*t);
    }
    error =
        std::string(field) + (nullable ? ": must be an ISO-8601 timestamp or null" : ": must be an ISO-8601 timestamp");
    return std::nullopt;
}

std::optional<std::int32_t> read_count(const nlohmann::json& value) {
    if (!value.is_number_integer()) return std::nullopt;
    const auto v = value.get<std::int64_t>();
    if (v < 0 || v > std::numeric_limits<std::int32_t>::max()) return std::nullopt;
    return static_cast<std::int32_t>(v);
}

}  // namespace

std::optional<ListingOrder> parse_listing_order(std::string_view text) {
    if (text == "newest") return ListingOrder::newest;
    if (text == "oldest") return ListingOrder::oldest;
    if (text == "shuffled") return ListingOrder::shuffled;
    return std::nullopt;
}

BatchStore::BatchStore(const Clock& clock, StoreSettings settings)
    : clock_(clock),
      settings_(settings),
      lifecycle_clock_(wall_now(), settings.speed, settings.frozen),
      rng_(settings.seed) {
    for (const auto name : status::kLifecycleNames) intern_status_locked(name);
}

Micros BatchStore::wall_now() const { return to_micros(clock_.now()); }

void BatchStore::generate(std::size_t count) {
    std::unique_lock lock(mutex_);
    const Micros wall = wall_now();
    advance_locked(wall);
    const Micros lifecycle_now = lifecycle_clock_.at(wall);
    const Micros max_age =
        std::max<Micros>(2, lifecycle_clock_.span_of(std::min(kGeneratedSpan, settings_.retention * 2 / 3)));
    slots_by_id_.reserve(slots_by_id_.size() + count);
    // Indexed in bulk at the end: one sort instead of a million scattered insertions.
    std::vector<ListingPosition> listed;
    listed.reserve(count);
    std::vector<std::vector<ListingPosition>> listed_by_status(by_status_.size());
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint32_t slot = allocate_slot_locked();
        BatchRecord& b = records_[slot];
        b.total_items = random_total_items(rng_);
        LifecyclePlan plan = random_plan(rng_, b.total_items, 0);
        const Micros created = lifecycle_now - random_age(rng_, plan, max_age);
        shift_plan(plan, created);
        b.created_at = std::min(lifecycle_clock_.wall_at(created), wall);
        b.expires_at = b.created_at + settings_.retention;
        start_lifecycle(b, plan);
        apply_due_changes(b, lifecycle_now, lifecycle_clock_);
        rebuild_json_locked(b);
        b.order_key = order_key(b);
        listed.push_back(position_of(slot));
        listed_by_status[b.status].push_back(position_of(slot));
        schedule_change_locked(slot);
        schedule_expiry_locked(slot);
    }
    listing_.insert_many(std::move(listed));
    for (std::size_t s = 0; s < listed_by_status.size(); ++s) {
        if (!listed_by_status[s].empty()) by_status_[s].insert_many(std::move(listed_by_status[s]));
    }
}

std::string BatchStore::list_page(const ListQuery& query) {
    catch_up(wall_now());
    std::shared_lock lock(mutex_);
    std::string out;
    out.reserve(64 + static_cast<std::size_t>(query.limit) * 520);
    out += R"({"object":"list","data":[)";
    const ListingIndex* index = index_for(query.status);
    std::optional<ListingPosition> last;
    bool more = false;
    if (index) {
        auto it = query.after ? index->upper_bound(*query.after) : index->begin();
        for (int n = 0; it != index->end() && n < query.limit; ++it, ++n) {
            if (n > 0) out += ',';
            out += records_[it->slot].json;
            last = *it;
        }
        more = it != index->end();
    }
    out += R"(],"next_cursor":)";
    if (more && last) {
        out += '"';
        out += encode_cursor(*last);
        out += '"';
    } else {
        out += "null";
    }
    out += '}';
    return out;
}

std::optional<BatchView> BatchStore::find(std::string_view id) {
    catch_up(wall_now());
    std::shared_lock lock(mutex_);
    const auto slot = slots_by_id_.find(id);
    if (!slot) return std::nullopt;
    const BatchRecord& b = records_[*slot];
    const Micros updated = b.completed_at != kNull ? b.completed_at
                           : b.started_at != kNull ? b.started_at
                                                   : b.created_at;
    return BatchView{b.json, b.counts, updated};
}

std::string BatchStore::snapshot() {
    catch_up(wall_now());
    std::shared_lock lock(mutex_);
    std::size_t bytes = 32;
    for (const auto& p : listing_) bytes += records_[p.slot].json.size() + 1;
    std::string out;
    out.reserve(bytes);
    out += R"({"batches":[)";
    bool first = true;
    for (const auto& p : listing_) {
        if (!first) out += ',';
        first = false;
        out += records_[p.slot].json;
    }
    out += "]}";
    return out;
}

std::size_t BatchStore::size() {
    catch_up(wall_now());
    std::shared_lock lock(mutex_);
    return slots_by_id_.size();
}

std::vector<std::string> BatchStore::create(const NewBatches& request) {
    std::unique_lock lock(mutex_);
    const Micros wall = wall_now();
    advance_locked(wall);
    const Micros lifecycle_now = lifecycle_clock_.at(wall);
    std::vector<std::string> ids;
    ids.reserve(static_cast<std::size_t>(std::max(0, request.count)));
    for (int i = 0; i < request.count; ++i) {
        const std::uint32_t slot = allocate_slot_locked();
        BatchRecord& b = records_[slot];
        // Strictly increasing, so "newest first" lists a burst of new batches in a stable order.
        last_created_at_ = std::max(wall, last_created_at_ + 1);
        b.created_at = last_created_at_;
        b.expires_at = b.created_at + settings_.retention;
        b.total_items = request.total_items ? *request.total_items : random_total_items(rng_);
        start_lifecycle(b, random_plan(rng_, b.total_items, lifecycle_now));
        rebuild_json_locked(b);
        index_locked(slot);
        schedule_change_locked(slot);
        schedule_expiry_locked(slot);
        if (request.status) update_locked(slot, nlohmann::json{{"status", *request.status}}, wall);
        ids.emplace_back(b.id_view());
    }
    return ids;
}

UpdateResult BatchStore::update(std::string_view id, const nlohmann::json& fields) {
    std::unique_lock lock(mutex_);
    const Micros wall = wall_now();
    advance_locked(wall);
    const auto slot = slots_by_id_.find(id);
    if (!slot) return {UpdateResult::Outcome::not_found, "Batch not found"};
    return update_locked(*slot, fields, wall);
}

UpdateResult BatchStore::update_locked(std::uint32_t slot, const nlohmann::json& fields, Micros wall) {
    if (!fields.is_object()) return invalid("the body must be a JSON object of batch fields");
    // Validate everything first: an invalid update changes nothing.
    std::optional<std::string> new_status;
    std::optional<std::int32_t> total;
    std::optional<ItemCounts> counts;
    std::optional<Micros> created, expires, started, completed;
    std::string error;
    for (const auto& [key, value] : fields.items()) {
        if (key == "id") return invalid("id cannot be changed");
        if (key == "status") {
            if (!value.is_string() || value.get_ref<const std::string&>().empty())
                return invalid("status: must be a non-empty string");
            new_status = value.get<std::string>();
            if (!status_id(*new_status) && status_names_.size() >= kMaxStatuses)
                return invalid("status: too many distinct statuses");
        } else if (key == "total_items") {
            total = read_count(value);
            if (!total) return invalid("total_items: must be a non-negative integer");
        } else if (key == "counts") {
            if (!value.is_object()) return invalid("counts: must be an object");
            ItemCounts c;
            for (const auto& [name, n] : value.items()) {
                const auto v = read_count(n);
                if (!v) return invalid("counts." + name + ": must be a non-negative integer");
                if (name == "pending")
                    c.pending = *v;
                else if (name == "running")
                    c.running = *v;
                else if (name == "succeeded")
                    c.succeeded = *v;
                else if (name == "failed")
                    c.failed = *v;
                else if (name == "cancelled")
                    c.cancelled = *v;
                else
                    return invalid("counts." + name + ": not a count (pending, running, succeeded, failed, cancelled)");
            }
            counts = c;
        } else if (key == "created_at") {
            if (!(created = read_timestamp(value, false, error, key))) return invalid(error);
        } else if (key == "expires_at") {
            if (!(expires = read_timestamp(value, false, error, key))) return invalid(error);
        } else if (key == "started_at") {
            if (!(started = read_timestamp(value, true, error, key))) return invalid(error);
        } else if (key == "completed_at") {
            if (!(completed = read_timestamp(value, true, error, key))) return invalid(error);
        }
    }

    BatchRecord& b = records_[slot];
    const StatusId old_status = b.status;
    const ListingPosition old_position = position_of(slot);
    b.pinned = true;
    b.next_change_at = kNever;
    if (new_status) b.status = intern_status_locked(*new_status);
    if (total) b.total_items = *total;
    if (counts) {
        b.counts = *counts;
    } else if (new_status || total) {
        b.counts = counts_for_status(b.status, b.total_items, b.counts);
    }
    if (new_status) {  // timestamps that fit the status, where the update does not give them
        const bool terminal = b.status >= status::completed && b.status <= status::cancelled;
        if (b.status == status::pending) {
            b.started_at = kNull;
            b.completed_at = kNull;
        } else if (b.status == status::running) {
            if (b.started_at == kNull) b.started_at = wall;
            b.completed_at = kNull;
        } else if (terminal) {
            if (b.completed_at == kNull) b.completed_at = wall;
            if (b.started_at == kNull && b.status != status::cancelled) b.started_at = wall;
        }
    }
    if (created) b.created_at = *created;
    if (expires) b.expires_at = *expires;
    if (started) b.started_at = *started;
    if (completed) b.completed_at = *completed;
    for (const auto& [key, value] : fields.items()) {
        static constexpr std::array<std::string_view, 7> kTyped{"status",      "total_items", "counts",
                                                                "created_at",  "expires_at",  "started_at",
                                                                "completed_at"};
        if (std::find(kTyped.begin(), kTyped.end(), key) != kTyped.end()) continue;
        if (!b.overrides) b.overrides = std::make_unique<nlohmann::json>(nlohmann::json::object());
        (*b.overrides)[key] = value;
    }

    // Re-file the batch where its position or status changed.
    const std::uint64_t new_key = order_key(b);
    if (new_key != b.order_key || b.status != old_status) {
        listing_.erase(old_position);
        by_status_[old_status].erase(old_position);
        b.order_key = new_key;
        listing_.insert(position_of(slot));
        by_status_[b.status].insert(position_of(slot));
    }
    if (expires) schedule_expiry_locked(slot);
    rebuild_json_locked(b);
    return {};
}

bool BatchStore::remove(std::string_view id) {
    std::unique_lock lock(mutex_);
    advance_locked(wall_now());
    const auto slot = slots_by_id_.find(id);
    if (!slot) return false;
    erase_locked(*slot);
    return true;
}

void BatchStore::freeze() {
    std::unique_lock lock(mutex_);
    const Micros wall = wall_now();
    advance_locked(wall);
    lifecycle_clock_.freeze(wall);
}

void BatchStore::unfreeze() {
    std::unique_lock lock(mutex_);
    lifecycle_clock_.unfreeze(wall_now());
}

bool BatchStore::frozen() {
    std::shared_lock lock(mutex_);
    return lifecycle_clock_.frozen();
}

void BatchStore::catch_up(Micros wall) {
    {
        std::shared_lock lock(mutex_);
        if (!due_locked(wall)) return;
    }
    std::unique_lock lock(mutex_);
    advance_locked(wall);
}

bool BatchStore::due_locked(Micros wall) const {
    if (lifecycle_clock_.frozen()) return false;
    return (!lifecycle_schedule_.empty() && lifecycle_schedule_.front().at <= lifecycle_clock_.at(wall)) ||
           (!expiry_schedule_.empty() && expiry_schedule_.front().at <= wall);
}

void BatchStore::advance_locked(Micros wall) {
    if (lifecycle_clock_.frozen()) return;
    const Micros lifecycle_now = lifecycle_clock_.at(wall);
    while (!lifecycle_schedule_.empty() && lifecycle_schedule_.front().at <= lifecycle_now) {
        std::pop_heap(lifecycle_schedule_.begin(), lifecycle_schedule_.end(), std::greater<>{});
        const Scheduled due = lifecycle_schedule_.back();
        lifecycle_schedule_.pop_back();
        BatchRecord& b = records_[due.slot];
        if (!b.live || b.generation != due.generation || b.next_change_at != due.at) continue;
        const StatusId old_status = b.status;
        if (!apply_due_changes(b, lifecycle_now, lifecycle_clock_)) continue;
        if (b.status != old_status) {
            by_status_[old_status].erase(position_of(due.slot));
            by_status_[b.status].insert(position_of(due.slot));
        }
        rebuild_json_locked(b);
        schedule_change_locked(due.slot);
    }
    while (!expiry_schedule_.empty() && expiry_schedule_.front().at <= wall) {
        std::pop_heap(expiry_schedule_.begin(), expiry_schedule_.end(), std::greater<>{});
        const Scheduled due = expiry_schedule_.back();
        expiry_schedule_.pop_back();
        const BatchRecord& b = records_[due.slot];
        if (b.live && b.generation == due.generation && b.expires_at == due.at) erase_locked(due.slot);
    }
}

std::uint32_t BatchStore::allocate_slot_locked() {
    std::uint32_t slot = 0;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
        const std::uint32_t generation = records_[slot].generation + 1;
        records_[slot] = BatchRecord{};
        records_[slot].generation = generation;
    } else {
        slot = static_cast<std::uint32_t>(records_.size());
        records_.emplace_back();
    }
    BatchRecord& b = records_[slot];
    const std::string id = random_id_locked();
    std::copy(id.begin(), id.end(), b.id.begin());
    b.flavor = static_cast<std::uint32_t>(rng_());
    b.live = true;
    slots_by_id_.insert(slot);
    return slot;
}

std::string BatchStore::random_id_locked() {
    std::string id;
    do {
        id.assign(kBatchIdPrefix);
        std::uint64_t bits = rng_();
        for (std::size_t i = kBatchIdPrefix.size(); i < kBatchIdLength; ++i) {
            if (i == 14) bits = rng_();  // 10 characters per draw: 62^10 < 2^60
            id.push_back(kIdAlphabet[bits % kIdAlphabet.size()]);
            bits /= kIdAlphabet.size();
        }
    } while (slots_by_id_.contains(id));
    return id;
}

std::uint64_t BatchStore::order_key(const BatchRecord& batch) const {
    switch (settings_.order) {
        case ListingOrder::newest: return ~ascending(batch.created_at);
        case ListingOrder::oldest: return ascending(batch.created_at);
        case ListingOrder::shuffled: return hash_id(settings_.seed, batch.id_view());
    }
    return 0;
}

ListingPosition BatchStore::position_of(std::uint32_t slot) const { return {records_[slot].order_key, slot}; }

void BatchStore::index_locked(std::uint32_t slot) {
    BatchRecord& b = records_[slot];
    b.order_key = order_key(b);
    listing_.insert(position_of(slot));
    by_status_[b.status].insert(position_of(slot));
}

void BatchStore::unindex_locked(std::uint32_t slot) {
    const BatchRecord& b = records_[slot];
    listing_.erase(position_of(slot));
    by_status_[b.status].erase(position_of(slot));
}

void BatchStore::schedule_change_locked(std::uint32_t slot) {
    const BatchRecord& b = records_[slot];
    if (b.pinned || b.next_change_at == kNever) return;
    lifecycle_schedule_.push_back({b.next_change_at, slot, b.generation});
    std::push_heap(lifecycle_schedule_.begin(), lifecycle_schedule_.end(), std::greater<>{});
}

void BatchStore::schedule_expiry_locked(std::uint32_t slot) {
    const BatchRecord& b = records_[slot];
    expiry_schedule_.push_back({b.expires_at, slot, b.generation});
    std::push_heap(expiry_schedule_.begin(), expiry_schedule_.end(), std::greater<>{});
}

void BatchStore::erase_locked(std::uint32_t slot) {
    unindex_locked(slot);
    BatchRecord& b = records_[slot];
    slots_by_id_.erase(slot);
    b.live = false;
    b.json = std::string();  // give the memory back now, not when the slot is reused
    b.overrides.reset();
    free_slots_.push_back(slot);
}

void BatchStore::rebuild_json_locked(BatchRecord& batch) {
    batch.json = batch_json(batch, status_names_[batch.status]);
}

std::optional<StatusId> BatchStore::status_id(std::string_view name) const {
    for (std::size_t i = 0; i < status_names_.size(); ++i) {
        if (status_names_[i] == name) return static_cast<StatusId>(i);
    }
    return std::nullopt;
}

StatusId BatchStore::intern_status_locked(std::string_view name) {
    if (const auto id = status_id(name)) return *id;
    status_names_.emplace_back(name);
    by_status_.emplace_back();
    return static_cast<StatusId>(status_names_.size() - 1);
}

const ListingIndex* BatchStore::index_for(std::string_view status) const {
    if (status.empty()) return &listing_;
    const auto id = status_id(status);
    return id ? &by_status_[*id] : nullptr;
}

}  // namespace extract::sim
