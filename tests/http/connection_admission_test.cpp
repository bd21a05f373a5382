// Who gets a connection slot (http/connection_admission): the per-uid cap, the reserve of root
// and the daemon's own uid, and never-spoken connections closed first to make room. Any uid can
// be played here; tests/api/abuse_test.cpp shows the same through the real socket.

#include "http/connection_admission.hpp"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace extract::http {
namespace {

constexpr uid_t kOwn = 990;  // the daemon's own user
constexpr uid_t kAlice = 1000;
constexpr uid_t kBob = 1001;
constexpr uid_t kCarol = 1002;

class Table {
public:
    explicit Table(ConnectionQuota quota) : admission_(quota, kOwn) {}
    // What ConnectionLoop does for a newcomer: close what it is told to, then add or refuse.
    // Returns the refusal ("" when added) and the ids closed for room.
    std::pair<std::string, std::vector<ConnectionId>> connect(uid_t uid, bool speaks) {
        std::vector<ConnectionId> evicted;
        while (true) {
            const auto decision = admission_.decide(uid);
            if (const auto* evict = std::get_if<ConnectionAdmission::Evict>(&decision)) {
                evicted.push_back(evict->victim);
                admission_.closed(evict->victim);
                continue;
            }
            if (const auto* refuse = std::get_if<ConnectionAdmission::Refuse>(&decision))
                return {refuse->reason, evicted};
            const ConnectionId id = next_++;
            admission_.opened(id, uid);
            if (speaks) admission_.spoke(id);
            last_ = id;
            return {"", evicted};
        }
    }
    // n connections from uid that all get in; returns the first id.
    ConnectionId fill(uid_t uid, int n, bool speaks) {
        const ConnectionId first = next_;
        for (int i = 0; i < n; ++i) {
            const auto [refusal, evicted] = connect(uid, speaks);
            EXPECT_EQ(refusal, "") << "uid " << uid << " connection " << i;
            EXPECT_TRUE(evicted.empty());
        }
        return first;
    }
    ConnectionAdmission admission_;
    ConnectionId next_ = 2;
    ConnectionId last_ = 0;
};

TEST(ConnectionQuota, IsDerivedFromMaxConnections) {
    const auto standard = ConnectionQuota::derived(512);
    EXPECT_EQ(standard.per_uid, 128u);
    EXPECT_EQ(standard.reserve, 64u);
    EXPECT_EQ(ConnectionQuota::derived(16).per_uid, 4u);
    EXPECT_EQ(ConnectionQuota::derived(16).reserve, 2u);
    EXPECT_EQ(ConnectionQuota::derived(16, 9).per_uid, 9u);
    EXPECT_EQ(ConnectionQuota::derived(3).per_uid, 1u);
    EXPECT_EQ(ConnectionQuota::derived(3).reserve, 1u);
    EXPECT_EQ(ConnectionQuota::derived(1).reserve, 0u);
    EXPECT_EQ(ConnectionQuota::derived(1).per_uid, 1u);
}

TEST(ConnectionAdmission, OneUidCannotTakeMoreThanItsShareAndOthersStillGetIn) {
    Table table(ConnectionQuota::derived(16));  // 4 per uid, 2 reserved
    table.fill(kAlice, 4, true);
    const auto [refusal, evicted] = table.connect(kAlice, true);
    EXPECT_NE(refusal.find("too many connections to the API from uid 1000"), std::string::npos) << refusal;
    EXPECT_NE(refusal.find("one user may hold 4 of the 16"), std::string::npos) << refusal;
    EXPECT_TRUE(evicted.empty());
    EXPECT_EQ(table.connect(kBob, true).first, "");
    EXPECT_EQ(table.connect(kOwn, true).first, "");
    EXPECT_EQ(table.connect(0, true).first, "");
}

TEST(ConnectionAdmission, RootAndTheDaemonsUserKeepAReserveOthersCannotTake) {
    Table table(ConnectionQuota::derived(16));  // 14 for everyone, 2 more for root and kOwn
    table.fill(kAlice, 4, true);
    table.fill(kBob, 4, true);
    table.fill(kCarol, 4, true);
    table.fill(1003, 2, true);
    const auto [refusal, evicted] = table.connect(1004, true);
    EXPECT_NE(refusal.find("the 14 that users other than root and the daemon's own may hold are in use"),
              std::string::npos)
        << refusal;
    EXPECT_TRUE(evicted.empty());
    EXPECT_EQ(table.connect(0, true).first, "");
    EXPECT_EQ(table.connect(kOwn, true).first, "");
    // Now the table is full for everyone.
    EXPECT_NE(table.connect(0, true).first.find("all 16 are in use"), std::string::npos);
    EXPECT_EQ(table.admission_.open_connections(), 16u);
}

TEST(ConnectionAdmission, NeverSpokenConnectionsAreClosedFirstForRoom) {
    Table table(ConnectionQuota::derived(16));
    const ConnectionId silent = table.fill(kAlice, 2, false);  // the oldest two, silent
    table.fill(kAlice, 2, true);
    // Alice at her cap: her own oldest silent connection makes room, not a refusal.
    auto [refusal, evicted] = table.connect(kAlice, true);
    EXPECT_EQ(refusal, "");
    EXPECT_EQ(evicted, (std::vector<ConnectionId>{silent}));
    std::tie(refusal, evicted) = table.connect(kAlice, true);
    EXPECT_EQ(evicted, (std::vector<ConnectionId>{silent + 1}));
    // Every one of hers has spoken now (mid-request or between requests): none is closed.
    std::tie(refusal, evicted) = table.connect(kAlice, false);
    EXPECT_NE(refusal, "");
    EXPECT_TRUE(evicted.empty());
    EXPECT_EQ(table.admission_.open_connections(), 4u);
}

TEST(ConnectionAdmission, AFullTableGivesUpTheSilentConnectionsOfTheBiggestHolderFirst) {
    Table table(ConnectionQuota::derived(16));
    table.fill(kBob, 1, false);                               // an old silent one of a small holder
    const ConnectionId alice = table.fill(kAlice, 4, false);  // the biggest holder, all silent
    table.fill(kCarol, 4, true);
    table.fill(1003, 4, true);
    table.fill(kOwn, 1, true);
    table.fill(0, 2, true);  // 16: full
    auto [refusal, evicted] = table.connect(1004, true);
    EXPECT_EQ(refusal, "");
    EXPECT_EQ(evicted, (std::vector<ConnectionId>{alice}));  // Alice's oldest, not Bob's older one
    // Root's newcomer in a full table: again from the biggest silent holder.
    std::tie(refusal, evicted) = table.connect(0, true);
    EXPECT_EQ(refusal, "");
    EXPECT_EQ(evicted, (std::vector<ConnectionId>{alice + 1}));
}

TEST(ConnectionAdmission, ARootConnectionIsNotClosedToMakeRoomForAnOrdinaryUser) {
    Table table(ConnectionQuota::derived(16));
    table.fill(0, 2, false);  // root's, silent, in the reserve
    table.fill(kAlice, 4, true);
    table.fill(kBob, 4, true);
    table.fill(kCarol, 4, true);
    table.fill(1003, 2, true);  // 14 ordinary: their share is full; the table is full too
    const auto [refusal, evicted] = table.connect(1004, true);
    EXPECT_NE(refusal, "");
    EXPECT_TRUE(evicted.empty());  // closing root's would not make room in the ordinary share
}

TEST(ConnectionAdmission, ClosingGivesTheSlotBack) {
    Table table(ConnectionQuota::derived(8));  // 2 per uid
    table.fill(kAlice, 2, true);
    EXPECT_NE(table.connect(kAlice, true).first, "");
    table.admission_.closed(2);
    table.admission_.closed(2);    // twice: no effect
    table.admission_.closed(999);  // unknown: no effect
    EXPECT_EQ(table.connect(kAlice, true).first, "");
    EXPECT_EQ(table.admission_.open_connections(), 2u);
}

TEST(ConnectionAdmission, APeerWhoseUidCannotBeReadIsAnOrdinaryUserOfItsOwn) {
    Table table(ConnectionQuota::derived(8));
    table.fill(kUnknownPeerUid, 2, true);
    const auto refusal = table.connect(kUnknownPeerUid, true).first;
    EXPECT_NE(refusal.find("a peer whose uid cannot be read"), std::string::npos) << refusal;
}

}  // namespace
}  // namespace extract::http
