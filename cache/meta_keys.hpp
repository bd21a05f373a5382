#pragma once
// Every key of the mirror's `meta` table (one row per key: small facts the daemon keeps about
// itself), named once. docs/schema.md describes each value; a new key is added here first.
// The SQL of migration 5 and of the `batches` view (cache/schema.cpp) spells out
// 'last_full_pass_at': a migration is never edited once shipped.

#include <string>
#include <string_view>

namespace extract::cache::meta_key {

// "pending" until the first full sync into an empty mirror completes, then "done".
// Written by Mirror (bootstrap_pending, finish_bootstrap).
inline constexpr std::string_view kBootstrap = "bootstrap";

// `started_at` of the last complete full pass that applied its removals; the `batches` view's
// last_seen_at of a live batch is at least this. Written by Mirror::remove_unseen.
inline constexpr std::string_view kLastFullPassAt = "last_full_pass_at";

// The highest events.seq that pruning deleted: GET /v1/events answers `truncated` to a client
// reading after a lower seq. Written by Mirror::prune_events, read by api::MirrorReader.
inline constexpr std::string_view kPrunedThroughSeq = "pruned_through_seq";

// JSON {"count", "live", "since"}: a mass removal held by the sync's guard; absent when
// nothing is held. Written through Mirror::set_meta_value by sync's MassRemovalGuard.
inline constexpr std::string_view kHeldRemovals = "held_removals";

// 64 hex digits: the key the local API MACs its cursors with, made once. Written by
// Mirror::cursor_key.
inline constexpr std::string_view kCursorKey = "cursor_key";

// Prefix of "disabled." + target ("disabled.webhook.NAME"): JSON {"delivery_id", "url", "at"}
// while a target is disabled by a 410. Written by DeliveryStore.
inline constexpr std::string_view kDisabledPrefix = "disabled.";
inline std::string disabled(std::string_view target) { return std::string(kDisabledPrefix).append(target); }

// A fixed key above as an SQL string literal, for statements that name it (no key holds a quote).
inline std::string sql_literal(std::string_view key) { return "'" + std::string(key) + "'"; }

}  // namespace extract::cache::meta_key
