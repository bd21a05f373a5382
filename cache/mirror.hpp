#pragma once
// The one writer connection to the mirror: applies pages, records transitions and events
// exactly once, and queues their deliveries in the same transaction.

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cache/event.hpp"
#include "cache/id_hash_set.hpp"
#include "core/batch.hpp"
#include "core/clock.hpp"

namespace extract::cache {

// The mirror file cannot be opened as asked (missing directory, newer schema, not a database).
class MirrorOpenError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Where an event is to be delivered, as configured in a [webhook.NAME] / [trigger.NAME] section.
struct DeliveryRoute {
    std::string target;                 // "webhook.NAME" or "trigger.NAME"
    std::vector<std::string> events;    // event types it takes; empty = batch.status_changed only
    std::vector<std::string> statuses;  // only events whose batch's (new) status is listed; empty = all
};

// The events a first sighting writes besides its transition (NULL -> status), which is always
// recorded. SPEC §5: every transition after the bootstrap is a batch.status_changed, so a target
// taking only `completed` fires once for a batch first seen already completed.
enum class FirstSightingEvents {
    none,                        // the bootstrap with emit_on_bootstrap = false: silent
    created,                     // the bootstrap with emit_on_bootstrap = true: batch.created only
                                 // (the account's history is announced, not replayed to completion targets)
    created_and_status_changed,  // after the bootstrap: batch.created, then batch.status_changed
                                 // with previous_status null
};

// What a sync applies its pages with: the bootstrap's choice while it is pending, else both events.
FirstSightingEvents first_sighting_events(bool bootstrap_pending, bool emit_on_bootstrap);

struct ApplyOptions {
    FirstSightingEvents first_sighting = FirstSightingEvents::created_and_status_changed;
    // Set during a full pass: every listed batch counts as seen by this pass (kept in the
    // Mirror's memory, no write: SPEC §3 "writes follow change"); remove_unseen reads it.
    std::optional<std::int64_t> full_pass_run_id;
    // A deliveries row per matching route per event, in the same transaction.
    const std::vector<DeliveryRoute>* routes = nullptr;
};

struct ApplyResult {
    int received = 0;
    int inserted = 0;
    int updated = 0;   // existing rows whose content changed (status or any other field)
    int restored = 0;  // of those updated: rows marked removed that the upstream lists again
    int unchanged = 0;
    int transitions = 0;
    int events = 0;
    std::map<std::string, int, std::less<>> transitions_to;  // by the status entered (metrics)
    std::map<std::string, int, std::less<>> events_by_type;  // by event type (metrics)
    std::int64_t last_event_seq = 0;                         // the highest seq this page wrote; 0 when it wrote none
    int set_aside = 0;  // batches not stored (Batch::set_aside, or a value the schema refused)
};

struct SyncRunCounts {
    std::int64_t requests = 0, pages = 0, upserted = 0, changed = 0, removed = 0;
};

// A mirrored, not removed batch and its status: the fast poll's work list.
struct MirroredStatus {
    std::string id;
    std::string status;
    bool operator==(const MirroredStatus&) const = default;
};

// Not thread-safe: one thread owns the Mirror. Readers open their own read-only connections.
// SQLite errors (a corrupt file, a disk full, the write lock held elsewhere for more than 5 s)
// throw SQLite::Exception; every writing call then leaves the file as it was before the call.
class Mirror {
public:
    // Opens or creates the file (its directory must exist), WAL, synchronous=NORMAL,
    // busy_timeout 5000, foreign keys on, an 8 MiB page cache, a checkpoint every 32 MiB of WAL,
    // then migrates. Throws MirrorOpenError.
    // Builds the id index if a bulk load killed before its end left it out.
    Mirror(const std::string& path, const Clock& clock);
    ~Mirror();  // builds the id index if a bulk load is still on (an error there is logged)
    Mirror(const Mirror&) = delete;
    Mirror& operator=(const Mirror&) = delete;

    // One transaction (a PageGroup of one page): inserts new batches, updates changed ones, and
    // for each first sighting or status change writes a transition and an event; another changed
    // field gives batch.updated.
    // A batch that cannot be stored as it is (Batch::set_aside, or a value a constraint refuses,
    // such as a `raw` that is not JSON) is set aside: recorded in `set_aside_batches` and logged
    // once at warn, while the rest of the page is applied. A full pass still counts it as listed,
    // so a mirrored batch that upstream turned unstorable is not removed.
    ApplyResult apply_page(const std::vector<Batch>& page, const ApplyOptions& options);

    // Several consecutive pages in one transaction (SPEC §3, group commit), each page still whole.
    // A value a constraint refuses half-way through a page rolls the group back and applies it
    // again: its earlier pages as before, that page batch by batch (apply_page's set-aside rule),
    // so the pages and options given to apply() must stay alive until the group ends. Nothing of
    // the group is visible, logged or announced to the commit listener before commit(); a group
    // destroyed without commit() rolls back every page it applied (an exception from apply()
    // leaves it to that). While a group is open, no other writing call on the Mirror.
    class PageGroup {
    public:
        explicit PageGroup(Mirror& mirror);  // BEGIN IMMEDIATE
        ~PageGroup();
        PageGroup(const PageGroup&) = delete;
        PageGroup& operator=(const PageGroup&) = delete;

        // As apply_page, inside the group; the result counts this page only.
        ApplyResult apply(const std::vector<Batch>& page, const ApplyOptions& options);
        // Kept until the group ends: a temporary would be gone when the group is applied again.
        ApplyResult apply(const std::vector<Batch>&& page, const ApplyOptions& options) = delete;
        ApplyResult apply(const std::vector<Batch>& page, const ApplyOptions&& options) = delete;
        ApplyResult apply(const std::vector<Batch>&& page, const ApplyOptions&& options) = delete;
        // Commits the group, then logs what it set aside and wakes the commit listener once.
        void commit();

    private:
        // A page this group applied: what applying it again needs.
        struct Page {
            const std::vector<Batch>* batches;
            const ApplyOptions* options;
            bool batch_by_batch;  // a value of it was refused: each batch under its own savepoint
        };
        ApplyResult store(const Page& page);

        Mirror& mirror_;
        SQLite::Transaction transaction_;
        std::vector<Page> pages_;
        bool committed_ = false;
        std::vector<std::pair<std::string, std::string>> newly_set_aside_;  // escaped id, reason
        int cleared_set_aside_ = 0;
        std::int64_t last_event_seq_ = 0;   // the highest seq the group wrote; 0: no events
        std::vector<ApplyResult> applied_;  // each page's result, kept only when debug logs are on
    };

    // Inserts a sync_runs row started now and returns its id. `kind` is "full" or "fast".
    std::int64_t begin_sync_run(std::string_view kind);
    // Ends a bulk load the run began (see bulk_loading) by building the id index, then records the run.
    void finish_sync_run(std::int64_t run_id, const SyncRunCounts& counts, const std::optional<std::string>& error);
    // At start-up: runs left unfinished by a crash get finished_at now and error "interrupted".
    int close_interrupted_runs();
    // Pages of the latest full pass that completed (finished without error); nullopt before the
    // first one. The sync planner's estimate of what the next full pass costs.
    std::optional<std::int64_t> last_full_pass_pages();

    // After a COMPLETE full pass: every batch not removed that this pass did not list (as
    // apply_page with `full_pass_run_id` saw them, in this process) gets removed_at now and a
    // batch.removed event, and meta `last_full_pass_at` becomes the pass's start, from which the
    // `batches` view derives last_seen_at. One transaction. A pass that applied no batch removes
    // every live one: the caller guards against that (SPEC §3, mass-removal guard).
    int remove_unseen(std::int64_t full_pass_run_id, const std::vector<DeliveryRoute>* routes = nullptr);
    // How many batches remove_unseen(full_pass_run_id) would mark removed now, writing nothing
    // (the mass-removal guard asks before removing).
    std::int64_t count_unseen(std::int64_t full_pass_run_id);
    // The fast poll's 404: marks one batch removed (0 when unknown or already removed).
    int mark_removed(const std::string& batch_id, const std::vector<DeliveryRoute>* routes = nullptr);

    // True while the first full sync into an empty mirror has not completed. Decided at the
    // first call on a fresh file (empty batches table: pending) and kept in `meta`.
    bool bootstrap_pending();
    void finish_bootstrap();

    // True while a full pass that began on an empty mirror loads it in bulk: the unique index
    // batches_id is dropped at its first page and built once, sorted, when the run ends
    // (finish_sync_run), or earlier when an id is listed twice or looked up. Meanwhile the ids
    // are known by their hashes in memory (8 to 16 bytes a batch), and readers that look a batch
    // up by id scan the table. A first sync of a million batches so writes each leaf of the id
    // index once instead of once per group that touches it (SPEC §3; docs/sync.md, "Bulk load").
    bool bulk_loading() const { return bulk_ids_.has_value(); }
    // WAL pages between SQLite's automatic checkpoints: 8192, and 65536 during a bulk load.
    int wal_autocheckpoint();

    std::int64_t batch_count();  // not removed
    // Whether the mirror holds this batch, removed or not.
    bool contains(const std::string& batch_id);
    // Not removed batches whose status is not listed, found through the status index so the
    // cost follows the number of such batches, not the size of the history.
    std::vector<MirroredStatus> nonterminal_batches(const std::vector<std::string>& terminal_statuses);
    // The same batches counted by status, nothing kept per batch: what the sync planner weighs
    // (a list of a large account's non-terminal batches is megabytes).
    std::map<std::string, std::int64_t, std::less<>> nonterminal_counts(
        const std::vector<std::string>& terminal_statuses);

    // Deletes events created before `older_than` whose deliveries are all delivered, failed or
    // disabled (or that have none), with those deliveries, and raises meta `pruned_through_seq`
    // to the highest seq deleted. Returns the events removed. Batches and transitions stay.
    // sync_runs rows started before `older_than` go too, except the latest complete full pass.
    int prune_events(WallTime older_than);

    // Copies what the WAL holds into the database file now (passive: readers are not waited
    // for), so that the next write starts the WAL over and journal_size_limit (4 MiB) trims it.
    // For after a large write (a first sync); SQLite's own checkpoints run every 32 MiB.
    void checkpoint();

    // Called after every commit that wrote events, with the highest event seq (to wake
    // long-poll waiters), on the thread that owns the Mirror. It must not throw.
    void set_commit_listener(std::function<void(std::int64_t last_event_seq)> listener);
    // The highest event seq ever written (pruning does not lower it); 0 before the first event.
    std::int64_t last_event_seq();

    // The key the local API MACs its cursors with (meta `cursor_key`): 32 random bytes from
    // SQLite's randomblob (seeded by the OS), as 64 hex digits, made on the first call and kept,
    // so a cursor stays good across restarts and is refused by another mirror's API.
    std::string cursor_key();

    // Small facts kept in the `meta` table (one row per key), each write its own transaction.
    std::optional<std::string> meta_value(std::string_view key);
    void set_meta_value(std::string_view key, std::string_view value);
    void erase_meta_value(std::string_view key);

private:
    // The instant a write transaction works in: one timestamp for every row it writes.
    struct Moment {
        WallTime time;
        std::string text;  // format_timestamp(time)
    };
    Moment moment() const;
    // The UPDATE of a changed row. An indexed column is set only when its value changed: SQLite
    // rewrites the index entries of every column an UPDATE sets, changed or not, and counts that
    // move while the status stays are the most common change of all.
    static constexpr unsigned kSetStatus = 1, kSetCreatedAt = 2, kClearRemovedAt = 4;
    SQLite::Statement& update_batch(unsigned indexed_columns);
    // These write inside the caller's open transaction.
    std::int64_t record_event(EventType type, std::int64_t batch_key, std::string_view status, std::string_view raw,
                              std::optional<std::string_view> previous_status, const Moment& at,
                              const std::vector<DeliveryRoute>* routes);
    void record_transition(std::int64_t batch_key, const std::string* from_status, const std::string& to_status,
                           const Moment& at);
    // Marks a live batch removed and records its batch.removed event; nullopt when the batch is
    // unknown or already removed, else the event's seq.
    std::optional<std::int64_t> remove_batch(std::int64_t batch_key, const std::vector<DeliveryRoute>* routes,
                                             const Moment& at);
    // Which batches a full pass listed: one bit per batch key, for the pass `seen_run_`.
    void mark_seen(std::int64_t key, const ApplyOptions& options);
    bool seen_in(std::int64_t full_pass_run_id, std::int64_t key) const;
    // The live batches the pass did not list.
    std::vector<std::int64_t> unseen_keys(std::int64_t full_pass_run_id);
    // After a commit that wrote events.
    void notify(std::int64_t last_seq);
    // At the first page of a full pass: drops the id index when the mirror is empty (bulk load).
    void begin_bulk_load_if_empty(std::int64_t full_pass_run_id);
    // Ends a bulk load, if one is on, and makes sure the id index exists.
    void restore_id_index();
    // After a write transaction rolled back: what it did to the id index is undone, the hashes
    // of the ids it inserted are not, so the bulk load ends.
    void forget_bulk_load();
    // A page's batches that were not stored, each with why.
    using SetAsideList = std::vector<std::pair<const Batch*, std::string>>;
    // The stored part of a page, inside the caller's transaction: batches with a set_aside reason
    // are skipped. Throws SQLite::Exception when a value breaks a constraint.
    void store_batches(std::span<const Batch> page, const ApplyOptions& options, const Moment& at, ApplyResult& result);
    // Records one set-aside batch inside the caller's transaction; true when it is new or its
    // reason changed (then it is logged, once, after the commit).
    bool record_set_aside(const Batch& batch, const std::string& reason, const ApplyOptions& options, const Moment& at);
    // Forgets the set-aside records of the page's batches that were stored, i.e. not in
    // `set_aside` (inside the caller's transaction); returns how many it forgot.
    int clear_set_aside(std::span<const Batch> page, const SetAsideList& set_aside);

    const Clock& clock_;
    SQLite::Database db_;
    EventIdGenerator event_ids_;
    std::function<void(std::int64_t)> commit_listener_;

    // Prepared once (they are the hot path of a sync), reset and cleared before each use.
    SQLite::Statement find_page_rows_;
    SQLite::Statement insert_batch_;
    std::array<std::optional<SQLite::Statement>, 8> update_batch_;  // by indexed columns, prepared on first use
    SQLite::Statement insert_transition_;
    SQLite::Statement insert_event_;
    SQLite::Statement insert_delivery_;
    SQLite::Statement find_live_keys_;
    SQLite::Statement find_key_;
    SQLite::Statement find_live_batch_;
    SQLite::Statement set_removed_;
    SQLite::Statement find_set_aside_;
    SQLite::Statement upsert_set_aside_;
    SQLite::Statement clear_set_aside_;
    // False only while set_aside_batches is known to be empty: storing a page then costs no
    // statement to clear records.
    bool may_have_set_aside_ = true;
    // The current full pass's listed batches (mark_seen): a crash loses them with the pass,
    // which then removes nothing. About 125 KB for a million batches.
    std::vector<bool> seen_;
    std::int64_t seen_run_ = 0;
    // Bulk load (bulk_loading): the ids stored since batches_id was dropped. id_index_ is false
    // while the index may be missing; the run that last decided whether to bulk load.
    std::optional<IdHashSet> bulk_ids_;
    bool id_index_ = false;
    std::int64_t bulk_decided_run_ = 0;
};

}  // namespace extract::cache
