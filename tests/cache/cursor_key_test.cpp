// The key the local API MACs its cursors with (Mirror::cursor_key): made once per mirror,
// kept across restarts, different for every mirror, never weak.

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>

#include "tests/cache/mirror_fixture.hpp"

namespace extract::cache::testing {
namespace {

using CursorKeyTest = MirrorTest;

bool is_hex(const std::string& text) {
    return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isxdigit(c) != 0; });
}

TEST_F(CursorKeyTest, IsMadeOnceAndKeptAcrossRestarts) {
    const std::string key = mirror->cursor_key();
    EXPECT_EQ(key.size(), 64u);  // 32 random bytes as hex
    EXPECT_TRUE(is_hex(key)) << key;
    EXPECT_EQ(mirror->cursor_key(), key);
    reopen();
    EXPECT_EQ(mirror->cursor_key(), key);
    EXPECT_EQ(value("SELECT value FROM meta WHERE key = 'cursor_key'"), key);
}

TEST_F(CursorKeyTest, EveryMirrorHasItsOwn) {
    Mirror other((dir / "other.db").string(), clock);
    EXPECT_NE(other.cursor_key(), mirror->cursor_key());
}

TEST_F(CursorKeyTest, AKeyEditedShortIsReplaced) {
    const std::string key = mirror->cursor_key();
    SQLite::Database(path, SQLite::OPEN_READWRITE).exec("UPDATE meta SET value = 'x' WHERE key = 'cursor_key'");
    const std::string replaced = mirror->cursor_key();
    EXPECT_EQ(replaced.size(), 64u);
    EXPECT_NE(replaced, key);
    EXPECT_EQ(mirror->cursor_key(), replaced);
}

}  // namespace
}  // namespace extract::cache::testing
