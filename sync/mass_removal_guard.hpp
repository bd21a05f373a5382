#pragma once
// The mass-removal guard (SPEC §3): whether a complete full pass may mark removed the live
// batches it did not list, or must hold those removals until complete passes have agreed for
// [sync] mass_removal_confirm or an operator confirms them. decide_removals is pure (counts,
// the hold so far and the time in); the hold itself lives in the mirror's `meta` table, so a
// restart neither forgets a hold nor starts it over.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cache/mirror.hpp"
#include "core/clock.hpp"

namespace extract::sync {

// A removal of this many batches or fewer is never held, whatever its share of the mirror
// (SPEC §3: "and more than 20 of them"): a small account's ordinary removals go through.
inline constexpr std::int64_t kMassRemovalFloor = 20;

struct MassRemovalSettings {
    double threshold_percent = 50;  // [sync] mass_removal_threshold, 0..100
    Millis confirm{3600000};        // [sync] mass_removal_confirm
};

// Removals being held: what the latest complete pass would have removed, and since when.
struct HeldRemovals {
    std::int64_t count = 0;  // live batches the latest complete pass did not list
    std::int64_t live = 0;   // live batches then (listed or not)
    WallTime since;          // when the pass that began the hold completed
    bool operator==(const HeldRemovals&) const = default;
};

// More than `threshold_percent` of the `live` batches and more than kMassRemovalFloor. `live`
// is looked at only when `unseen` is above the floor.
bool is_mass_removal(std::int64_t unseen, std::int64_t live, double threshold_percent);

enum class RemovalVerdict {
    remove,           // not a mass removal, nothing was held: remove what the pass did not list
    hold_cleared,     // not a mass removal, but one was held: that hold is dropped, this pass's removals apply
    hold_begun,       // a mass removal, nothing held before: held from now (the one warning)
    held,             // a mass removal that agrees with the hold, which is younger than mass_removal_confirm
    apply_agreed,     // every complete pass has agreed for mass_removal_confirm: remove
    apply_confirmed,  // an operator confirmed (POST /v1/sync?full=true&confirm_removals=true): remove
};
std::string_view to_string(RemovalVerdict verdict);

struct RemovalDecision {
    RemovalVerdict verdict = RemovalVerdict::remove;
    std::optional<HeldRemovals> hold;  // the hold after this pass; nullopt: nothing is held
    bool removes() const { return !hold; }
};

// After a COMPLETE full pass: `unseen` live batches it did not list, out of `live`; `held`, the
// hold before it; `confirmed`, whether an operator asked this pass to remove whatever it is.
//
// A pass "agrees" with a hold when it is itself a mass removal (is_mass_removal). A pass that
// does not agree (the upstream lists the batches again, or few enough are missing) clears the
// hold, and its own removals apply. An incomplete pass never gets here and changes nothing.
// Held removals apply at the first agreeing pass that completes mass_removal_confirm or more
// after the hold began: every complete pass in between agreed, or the hold would be gone.
// What applies is what that pass did not list.
RemovalDecision decide_removals(std::int64_t unseen, std::int64_t live, const std::optional<HeldRemovals>& held,
                                const MassRemovalSettings& settings, bool confirmed, WallTime now);

// What health's last_error and the warning say about a hold: the count, and how to confirm.
std::string describe_hold(const HeldRemovals& hold, const MassRemovalSettings& settings);

// The hold kept in the mirror's `meta` table under cache::meta_key::kHeldRemovals, as JSON
// {"count":N,"live":M,"since":"ISO"}. A value that is not one reads as nothing held (logged
// once and erased): the next mass removal then begins a new hold, never removes.
std::string hold_to_meta(const HeldRemovals& hold);
std::optional<HeldRemovals> hold_from_meta(std::string_view value);
std::optional<HeldRemovals> load_hold(cache::Mirror& mirror);
void store_hold(cache::Mirror& mirror, const std::optional<HeldRemovals>& hold);

}  // namespace extract::sync
