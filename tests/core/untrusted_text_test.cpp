#include "core/untrusted_text.hpp"

#include <gtest/gtest.h>

#include <string>

#include "core/batch.hpp"

using extract::escape_untrusted;

TEST(EscapeUntrusted, LineBreaksControlBytesAndEscapeSequencesBecomeVisibleEscapes) {
    EXPECT_EQ(escape_untrusted("bat_1"), "bat_1");
    EXPECT_EQ(escape_untrusted("a\nb\rc\td"), "a\\nb\\rc\\td");
    EXPECT_EQ(escape_untrusted(std::string("x\0y", 3)), "x\\x00y");
    EXPECT_EQ(escape_untrusted("\x1b[31mred\x7f"), "\\x1b[31mred\\x7f");
    EXPECT_EQ(escape_untrusted("back\\slash"), "back\\\\slash");
    EXPECT_EQ(escape_untrusted("already\\x00\n", 200, false), "already\\x00\\n");
    EXPECT_EQ(escape_untrusted("\xc2\x9b"
                               "2J"),
              "\\u009b2J");                                     // C1 CSI
    EXPECT_EQ(escape_untrusted("caf\xc3\xa9"), "caf\xc3\xa9");  // UTF-8 stays
    EXPECT_EQ(escape_untrusted("bad\xff"), "bad\\xff");
}

TEST(EscapeUntrusted, LongTextIsCutOnACharacterBoundaryAndSaysHowLongItWas) {
    EXPECT_EQ(escape_untrusted(std::string(10, 'x'), 4), "xxxx\u2026(10 bytes)");
    EXPECT_EQ(escape_untrusted("ab\xc3\xa9", 3), "ab\u2026(4 bytes)");
}

TEST(BatchIdProblem, ControlBytesAndLengthAreRefused) {
    EXPECT_FALSE(extract::batch_id_problem("bat_01HX"));
    EXPECT_TRUE(extract::batch_id_problem(std::string("a\0b", 3)));
    EXPECT_TRUE(extract::batch_id_problem("a\x1b"));
    EXPECT_FALSE(extract::batch_id_problem(std::string(extract::kMaxBatchIdBytes, 'x')));
    EXPECT_TRUE(extract::batch_id_problem(std::string(extract::kMaxBatchIdBytes + 1, 'x')));
}
