#include "sync/mass_removal_guard.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "cache/meta_keys.hpp"
#include "core/duration.hpp"
#include "core/timefmt.hpp"
#include "core/untrusted_text.hpp"

namespace extract::sync {

bool is_mass_removal(std::int64_t unseen, std::int64_t live, double threshold_percent) {
    if (unseen <= kMassRemovalFloor) return false;
    return static_cast<double>(unseen) * 100.0 > threshold_percent * static_cast<double>(live);
}

std::string_view to_string(RemovalVerdict verdict) {
    switch (verdict) {
        case RemovalVerdict::remove: return "remove";
        case RemovalVerdict::hold_cleared: return "hold_cleared";
        case RemovalVerdict::hold_begun: return "hold_begun";
        case RemovalVerdict::held: return "held";
        case RemovalVerdict::apply_agreed: return "apply_agreed";
        case RemovalVerdict::apply_confirmed: return "apply_confirmed";
    }
    return "remove";
}

RemovalDecision decide_removals(std::int64_t unseen, std::int64_t live, const std::optional<HeldRemovals>& held,
                                const MassRemovalSettings& settings, bool confirmed, WallTime now) {
    if (confirmed) return {RemovalVerdict::apply_confirmed, std::nullopt};
    if (!is_mass_removal(unseen, live, settings.threshold_percent)) {
        return {held ? RemovalVerdict::hold_cleared : RemovalVerdict::remove, std::nullopt};
    }
    if (!held) return {RemovalVerdict::hold_begun, HeldRemovals{unseen, live, now}};
    if (now - held->since >= settings.confirm) return {RemovalVerdict::apply_agreed, std::nullopt};
    return {RemovalVerdict::held, HeldRemovals{unseen, live, held->since}};
}

std::string describe_hold(const HeldRemovals& hold, const MassRemovalSettings& settings) {
    return fmt::format(
        "mass removal held: complete full passes since {} did not list {} of the {} live batches (more than "
        "mass_removal_threshold {}%), so none was marked removed. If they are really gone upstream, confirm with "
        "`extractctl sync --full --confirm-removals`; otherwise they are removed once every complete pass agrees "
        "until {} (mass_removal_confirm {}). A wrong API key or an upstream fault: fix it, and the next full pass "
        "clears the hold",
        format_timestamp(hold.since), hold.count, hold.live, settings.threshold_percent,
        format_timestamp(hold.since + settings.confirm), format_duration(settings.confirm));
}

std::string hold_to_meta(const HeldRemovals& hold) {
    return nlohmann::json{{"count", hold.count}, {"live", hold.live}, {"since", format_timestamp(hold.since)}}.dump();
}

std::optional<HeldRemovals> hold_from_meta(std::string_view value) {
    const auto json = nlohmann::json::parse(value, nullptr, false);
    if (!json.is_object()) return std::nullopt;
    const auto count = json.find("count");
    const auto live = json.find("live");
    const auto since = json.find("since");
    if (count == json.end() || live == json.end() || since == json.end() || !count->is_number_integer() ||
        !live->is_number_integer() || !since->is_string()) {
        return std::nullopt;
    }
    const auto at = parse_timestamp(since->get<std::string>());
    if (!at || count->get<std::int64_t>() < 0 || live->get<std::int64_t>() < 0) return std::nullopt;
    return HeldRemovals{count->get<std::int64_t>(), live->get<std::int64_t>(), *at};
}

std::optional<HeldRemovals> load_hold(cache::Mirror& mirror) {
    const auto value = mirror.meta_value(cache::meta_key::kHeldRemovals);
    if (!value) return std::nullopt;
    auto hold = hold_from_meta(*value);
    if (!hold) {
        spdlog::warn("meta '{}' is not a mass-removal hold ({}): erased; the next mass removal is held anew",
                     cache::meta_key::kHeldRemovals, escape_untrusted(*value));
        mirror.erase_meta_value(cache::meta_key::kHeldRemovals);
    }
    return hold;
}

void store_hold(cache::Mirror& mirror, const std::optional<HeldRemovals>& hold) {
    if (hold) {
        mirror.set_meta_value(cache::meta_key::kHeldRemovals, hold_to_meta(*hold));
    } else {
        mirror.erase_meta_value(cache::meta_key::kHeldRemovals);
    }
}

}  // namespace extract::sync
